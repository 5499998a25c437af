"""The learning-rule registry (algorithms/rules.py): one place decides which rule an
``algorithm`` means for a model; rules are built once and called through one signature."""

import pytest
import torch

from analog_ep.algorithms import rules as R
from analog_ep.config import load_config
from analog_ep.errors import ConfigError
from analog_ep.train import make_trainer
from analog_ep.train.build import build_model

TINY = ["data.train_size=32", "data.test_size=16", "data.batch_size=16", "model.hidden=[12]"]


def test_models_name_their_rules_and_unknown_names_list_the_valid_ones():
    cfg = load_config(None, TINY)
    hop = build_model(cfg, (1, 8, 8), 10)
    pcn = build_model(load_config(None, TINY + ["model.name=pcn_mlp"]), (1, 8, 8), 10)
    assert type(R.build_rule(cfg, hop)) is R.EnergyEP and type(R.build_rule(cfg, pcn)) is R.PCNEP
    assert type(R.build_rule(cfg, pcn, algorithm="pc")) is R.PC and type(R.build_rule(cfg, hop, algorithm="bp")) is R.BP
    with pytest.raises(ConfigError, match=r"algorithm: 'pc' does not train a HopfieldMLP; valid: bp, ep"):
        R.build_rule(cfg, hop, algorithm="pc")
    with pytest.raises(ConfigError, match=r"unknown learning rule 'hebb'; valid: bp, ep, pc, pcn_ep"):
        R.get_learning_rule("hebb")
    with pytest.raises(ConfigError, match=r"solver.name: solver 'sync' does not relax a pcn energy"):
        R.build_rule(load_config(None, TINY + ["model.name=pcn_mlp", "solver.name=sync"]), pcn)
    # rules that relax nothing do not ask for a solver
    assert type(R.build_rule(load_config(None, TINY + ["model.name=pcn_mlp", "solver.name=sync"]), pcn,
                             algorithm="bp")) is R.BP


def test_a_registered_rule_trains_through_the_trainer(tmp_path, monkeypatch):
    """A new rule is one class and one registry entry; the trainer calls it and never asks
    which model family it holds. Here: EP with the sign of each gradient entry (a toy)."""
    calls = []

    class SignEP(R.EnergyEP):
        name = "sign_ep"

        def step(self, x, target, n_global):
            res = super().step(x, target, n_global)
            calls.append(x.shape[0])
            return R.Step([g.sign() for g in res.grads], res.output, res.stats, res.terms, res.traces)

    R.register_learning_rule("sign_ep", SignEP)
    try:
        from analog_ep.models.hopfield_mlp import HopfieldMLP

        monkeypatch.setattr(HopfieldMLP, "learning_rules", {"ep": "sign_ep", "bp": "bp"})
        t = make_trainer(load_config(None, TINY + ["train.lr=0.01", "train.momentum=0"]), tmp_path)
        before = [w.clone() for w in t.model.stored_weights()]
        x, y = t.train_set.batch(slice(0, 16))
        t.train_step(x, y)
        assert calls == [16] and isinstance(t.rule, SignEP)
        for a, b in zip(before, t.model.stored_weights()):  # every entry moved by lr * sign
            moved = (b - a).abs()
            assert torch.all((moved == 0) | torch.isclose(moved, torch.full_like(moved, 0.01)))
    finally:
        R._RULES.pop("sign_ep")


def test_warm_start_state_round_trips_through_the_checkpoint(tmp_path):
    """EP's warm start is the rule's state: the trainer's checkpoint holds the global batch's free
    state, a resumed trainer's rule starts from it, and ``reset`` forgets it."""
    cfg = load_config(None, TINY)
    t = make_trainer(cfg, tmp_path / "a")
    x, y = t.train_set.batch(slice(0, 16))
    t.train_step(x, y)
    state = t.state_dict()
    assert state["warm"] is not None and state["warm"][0].shape[0] == 16
    u = make_trainer(cfg, tmp_path / "b")
    u.load(state)
    for a, b in zip(t.rule.warm, u.rule.warm):
        assert torch.equal(a, b)
    assert u.rule.warm_n == 16
    u.rule.load_state_dict({"warm": state["warm"]}, shard=lambda n: slice(4, 8))  # a rank's rows
    assert u.rule.warm[0].shape[0] == 4 and u.rule.warm_n == 16
    torch.testing.assert_close(u.rule.warm[0], state["warm"][0][4:8])
    u.rule.reset()
    assert u.rule.warm is None and u.rule.state_dict() == {"warm": None}
