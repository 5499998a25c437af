"""The relaxation registry (:mod:`analog_ep.config.relaxations`) is the one place that decides what
a relaxation is: every check asks its entry's properties, never its name.

Reference: entries registered for the test under new names (and the ``iterative`` entry replaced
by a copy with one property flipped). A check that compared ``analog.relaxation`` with a name
would accept or refuse these by the name and fail here."""

from __future__ import annotations

import dataclasses
import inspect
import typing

import pytest

from analog_ep.config import load_config
from analog_ep.config.relaxations import RELAXATIONS, get_relaxation, with_algorithm
from analog_ep.config.schema import AnalogConfig
from analog_ep.errors import ConfigError
from analog_ep.solvers import get_solver
from analog_ep.solvers.base import Stopper, build_solver, run_sweeps
from analog_ep.train.build import resolve_device

CARD = ["data.name=digits", "analog.device=memristor"]
DISCRETE_KEYS = [["solver.end_reads=3"], ["solver.nudge_rtol=0.1"], ["solver.noise_z=2"]]


def register(monkeypatch, name: str, like: str = "iterative", **props) -> None:
    """Register (for this test) a copy of the ``like`` entry as ``name`` with ``props`` changed."""
    monkeypatch.setitem(RELAXATIONS, name, dataclasses.replace(RELAXATIONS[like], name=name, **props))


def test_the_schemas_valid_values_are_the_registrys_names(monkeypatch):
    assert typing.get_args(typing.get_type_hints(AnalogConfig)["relaxation"]) == tuple(RELAXATIONS)
    with pytest.raises(ConfigError, match=r"^analog.relaxation: invalid value 'wet'; valid: iterative, settle$"):
        load_config(None, CARD + ["analog.relaxation=wet"])
    with pytest.raises(ConfigError, match=r"^analog.relaxation: invalid value 'wet'; valid: iterative, settle$"):
        get_relaxation("wet")
    register(monkeypatch, "wet")
    assert load_config(None, CARD + ["analog.relaxation=wet"]).analog.relaxation == "wet"


def test_the_solvers_keyword_defaults_are_the_entries_noise_patience():
    """A solver called without ``noise_patience`` (outside :func:`build_solver`) waits its
    relaxation entry's patience."""
    want = RELAXATIONS["iterative"].noise_patience
    for fn in (get_solver("async"), get_solver("sync"), Stopper.__init__, run_sweeps):
        params = inspect.signature(fn).parameters
        assert params["noise_patience" if "noise_patience" in params else "patience"].default == want
    for energy in ("hopfield", "pcn"):
        assert inspect.signature(get_solver("settle", energy)).parameters["noise_patience"].default == \
            RELAXATIONS["settle"].noise_patience


def test_a_copy_of_iterative_under_another_name_is_accepted_as_iterative(monkeypatch):
    """The knobs of discrete reads, the noise floor's defaults and a card without the settle's
    circuit constants follow the entry, whatever its name."""
    register(monkeypatch, "wet")
    for keys in DISCRETE_KEYS:
        load_config(None, CARD + ["analog.relaxation=wet"] + keys)
    resolve_device(load_config(None, CARD + ["analog.relaxation=wet", "analog.read_integration=4"]))
    with pytest.raises(ConfigError, match=r"^analog.settle_dt_s: applies to analog.relaxation=settle only"):
        load_config(None, CARD + ["analog.relaxation=wet", "analog.settle_dt_s=1e-8"])
    want = build_solver(load_config(None, CARD), "hopfield", 1)
    got = build_solver(load_config(None, CARD + ["analog.relaxation=wet"]), "hopfield", 1)
    assert got.func is want.func and got.keywords == want.keywords
    assert got.keywords["noise_patience"] == 3 and got.keywords["noise_z"] == 3.0


@pytest.mark.parametrize("name", ["dry", "iterative"])
def test_without_discrete_reads_their_knobs_are_refused(monkeypatch, name):
    """An iterative entry with ``discrete_reads=False`` (under a new name, or the ``iterative``
    name itself) refuses a widened read window, end-read averaging and the relative nudge stop,
    and the messages name the config's relaxation; the real entry accepts them (above)."""
    register(monkeypatch, name, discrete_reads=False)
    keys = CARD + [f"analog.relaxation={name}"]
    with pytest.raises(ConfigError, match=rf"^analog.read_integration: widens a discrete read's window .* with "
                                          rf"analog.relaxation={name}; a {name} has no discrete reads"):
        resolve_device(load_config(None, keys + ["analog.read_integration=4"]))
    with pytest.raises(ConfigError, match=rf"^solver.end_reads: averages the phase ends .* \(a {name} digitizes"):
        load_config(None, keys + ["solver.end_reads=3"])
    with pytest.raises(ConfigError, match=r"^solver.nudge_rtol: applies to the iterative nudged phases"):
        load_config(None, keys + ["solver.nudge_rtol=0.1"])
    resolve_device(load_config(None, keys + ["analog.read_integration=1"]))


def test_the_noise_floor_threshold_follows_the_entrys_noise_z(monkeypatch):
    register(monkeypatch, "quiet", noise_z=None)
    keys = CARD + ["analog.relaxation=quiet"]
    with pytest.raises(ConfigError, match=r"^solver.noise_z: applies to analog.relaxation iterative only"):
        load_config(None, keys + ["solver.noise_z=2"])
    with pytest.raises(ConfigError, match=r"^solver.noise_band: is the band of the noise-floor stop's threshold"):
        load_config(None, keys + ["solver.noise_band=max"])
    kw = build_solver(load_config(None, keys), "hopfield", 1).keywords
    assert kw["stop"] == "noise_floor" and "noise_z" not in kw and "noise_band" not in kw
    register(monkeypatch, "patient", noise_patience=7, noise_z=1.5)
    kw = build_solver(load_config(None, CARD + ["analog.relaxation=patient"]), "hopfield", 1).keywords
    assert kw["noise_patience"] == 7 and kw["noise_z"] == 1.5


def test_circuit_constants_follow_the_entry(monkeypatch):
    """An iterative copy with the node circuit's constants needs a card and checks its constants,
    naming the config's relaxation."""
    register(monkeypatch, "wired", has_circuit_constants=True)
    with pytest.raises(ConfigError, match=r"^analog.relaxation: wired runs the neurons on a device card's crossbars"):
        load_config(None, ["data.name=digits", "analog.relaxation=wired"])
    assert load_config(None, CARD + ["analog.relaxation=wired", "algorithm=bp"]).algorithm == "bp"
    with pytest.raises(ConfigError, match=r"^analog.settle_capacitance_f: must be > 0 farads"):
        load_config(None, CARD + ["analog.relaxation=wired", "analog.settle_capacitance_f=0"])
    assert load_config(None, CARD + ["analog.relaxation=wired", "analog.settle_dt_s=1e-8"]).analog.settle_dt_s == 1e-8


def test_the_algorithms_a_relaxation_runs_follow_the_entry(monkeypatch):
    """``Relaxation.algorithms`` decides which algorithms a relaxation runs (the loader's refusal,
    :func:`with_algorithm`'s reset), whatever the entry's name or circuit: an iterative copy
    limited to EP refuses backprop; a settle copy open to every algorithm takes backprop."""
    assert RELAXATIONS["iterative"].algorithms is None and RELAXATIONS["settle"].algorithms == ("ep", "pc")
    register(monkeypatch, "narrow", algorithms=("ep",))
    load_config(None, CARD + ["analog.relaxation=narrow"])
    with pytest.raises(ConfigError, match=r"^analog.relaxation: narrow relaxes the phases of EP .* got algorithm bp on "
                                          r"hopfield_mlp; set analog.relaxation=iterative or algorithm=ep$"):
        load_config(None, CARD + ["analog.relaxation=narrow", "algorithm=bp"])
    register(monkeypatch, "open", like="settle", algorithms=None)
    cfg = load_config(None, CARD + ["analog.relaxation=open", "algorithm=bp", "analog.settle_dt_s=1e-8"])
    assert with_algorithm(cfg, "ep") == load_config(None, CARD + ["analog.relaxation=open", "analog.settle_dt_s=1e-8"])


@pytest.mark.parametrize("relaxation", ["settle", "narrow"])
def test_with_algorithm_resets_the_relaxation_where_it_does_not_run_it(monkeypatch, relaxation):
    """The config with another algorithm equals the one the loader builds from the same keys with
    that algorithm, less the relaxation's keys where the relaxation does not run it (the backprop
    twin beside a settle, or beside an iterative copy limited to EP); where it runs it, only the
    algorithm changes."""
    register(monkeypatch, "narrow", algorithms=("ep",))
    keys = CARD + ["analog.out_bits=6", "seed=3"]
    circuit = ["analog.settle_dt_s=1e-8"] if relaxation == "settle" else []
    cfg = load_config(None, keys + [f"analog.relaxation={relaxation}"] + circuit)
    assert with_algorithm(cfg, "bp") == load_config(None, keys + ["algorithm=bp"])
    assert with_algorithm(cfg, "ep") == cfg


PCN = ["model.name=pcn_mlp", "data.name=digits", "model.hidden=[12]", "analog.device=ideal", "algorithm=pc",
       "data.train_size=16", "data.test_size=8", "data.batch_size=8"]


@pytest.mark.parametrize("name,discrete", [("wet", False), ("damp", True), ("settle", True)])
def test_a_pcns_inference_and_noise_floor_follow_discrete_reads(monkeypatch, name, discrete):
    """On a PCN, the PC rule's inference (the relaxation's continuous flow, or its own activity
    steps) and the loader's refusal of ``solver.stop=noise_floor`` (a PCN's iterative nudged phase
    runs fixed traversals) follow the entry's ``discrete_reads``, not its name: a copy of the
    settle renamed ``wet`` flows, a ``damp`` copy with discrete reads (or the ``settle`` name itself
    with them) steps."""
    from analog_ep.train import make_trainer

    register(monkeypatch, name, like="settle", discrete_reads=discrete)
    keys = PCN + [f"analog.relaxation={name}"]
    rule = make_trainer(load_config(None, keys), None).rule
    if discrete:
        assert rule.solver is None
        with pytest.raises(ConfigError, match=r"^solver.stop: noise_floor stops Hopfield-type relaxations and settles; "
                                              r"a PCN's iterative nudged phase"):
            load_config(None, keys + ["solver.stop=noise_floor"])
    else:
        assert rule.solver.func is get_solver("settle", "pcn")
        assert load_config(None, keys + ["solver.stop=noise_floor"]).solver.stop == "noise_floor"
