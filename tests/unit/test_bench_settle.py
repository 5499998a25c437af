"""`analog-ep bench` under ``analog.relaxation: settle`` (issue 20 open item 1): the budget and the
sweep time count integration steps, so ``sweep_s x ep_sweeps_budget`` estimates a full-budget step.

References: the settle's budget in closed form (``ceil(t_max / dt)`` per phase, summed over the
phases an EP step runs), and the identity ``sweeps run == budget`` at ``solver.tol=0`` (every
phase runs its whole budget). Never wall-clock values.
"""

import math

import pytest
import torch

from conftest import build_float64
from analog_ep.algorithms.rules import build_rule
from analog_ep.bench import BENCH_KEYS, bench
from analog_ep.config import load_config
from analog_ep.solvers.settle import DEFAULT_STEPS_PER_TAU, SLOWEST_RATE_FLOOR

TAU = 1e-7
SETTLE = ["analog.device=ideal", "analog.relaxation=settle", "solver.tol=0"]
MLP = ["model.hidden=[16]", "data.batch_size=8", "data.train_size=16", "data.test_size=8", "solver.free_iters=6",
       "solver.nudge_iters=3"]
PCN = ["model.name=pcn_mlp", "model.hidden=[12]", "data.batch_size=8", "data.train_size=16", "data.test_size=8",
       "solver.nudge_iters=3"]


def _bench(overrides):
    return bench(load_config(None, overrides), repeats=2, warmup=1)


def test_settle_budget_is_in_integration_steps_and_is_what_a_full_budget_step_runs():
    """A fixed settle time: each of the three phases (free, nudge+, nudge-) has ceil(t_max / dt)
    integration steps; at tol 0 the timed steps run exactly that."""
    r = _bench(MLP + SETTLE + ["analog.settle_t_max_s=7e-7", "analog.settle_dt_s=2e-8"])
    assert "ep_budget_unit" in BENCH_KEYS
    assert r["ep_budget_unit"] == "integration_steps"
    assert r["ep_sweeps_budget"] == 3 * math.ceil(7e-7 / 2e-8) == 105
    assert r["ep_sweeps_per_step"] == r["ep_sweeps_budget"]


def test_settle_default_budget_counts_each_phase_own_time_constants():
    """The default budget: free_iters time constants for the free phase (dt = tau / 4), each
    nudged phase nudge_iters of its own slowest time constants (between 1 and 1 / floor tau)."""
    r = _bench(MLP + SETTLE)
    k = DEFAULT_STEPS_PER_TAU
    free = 6 * k
    assert 3 * k * 2 + free <= r["ep_sweeps_budget"] <= free + 2 * math.ceil(3 * k / SLOWEST_RATE_FLOOR)
    assert r["ep_sweeps_per_step"] == pytest.approx(r["ep_sweeps_budget"])


def test_iterative_budget_stays_in_sweeps():
    r = _bench(MLP + ["analog.device=ideal", "solver.tol=0"])
    assert r["ep_budget_unit"] == "sweeps"
    assert r["ep_sweeps_budget"] == 6 + 2 * 3 == r["ep_sweeps_per_step"]


def test_pcn_settle_budget_sums_the_nudged_phases():
    """EP on a PCN: the free phase is the forward pass (no step), two nudged phases of
    ceil(t_max / dt) steps each."""
    r = _bench(PCN + SETTLE + ["analog.settle_t_max_s=5e-7", "analog.settle_dt_s=1e-8"])
    assert r["ep_budget_unit"] == "integration_steps"
    assert r["ep_sweeps_budget"] == 2 * 50 == r["ep_sweeps_per_step"]


@pytest.mark.parametrize("overrides, dt, steps", [(MLP, [], 6 * DEFAULT_STEPS_PER_TAU), (MLP, ["analog.settle_dt_s=5e-8"], 12),
                                                  (PCN, ["analog.settle_dt_s=2.5e-8"], 12),
                                                  (MLP, ["analog.settle_dt_s=5e-8", "analog.device=memristor", "analog.settle_g_leak_s=1e-6",
                                                         "solver.free_iters=20"], 40)],
                         ids=["hopfield", "hopfield-dt-tau/2", "pcn", "hopfield-noisy-card"])
def test_sweep_timer_reports_the_integration_steps_it_ran(overrides, dt, steps):
    """``sweep_s`` is the timed call divided by the steps its stats report: a settle's call runs
    a whole phase at its full budget (the free phase's 6 tau, a PCN's nudged phase's 3 tau:
    ``ceil(iters tau / dt)`` integration steps, also on a noisy card, whose default stop would
    end a phase that starts relaxed after its 5 tau of patience), the iterative solvers' one sweep."""
    cfg, m, x, y = build_float64(overrides + SETTLE + dt, n=4)
    rule = build_rule(cfg, m)
    sweep, _ = rule.sweep_timer(x, y)
    assert sweep().sweeps == steps
    cfg_it, m, x, y = build_float64(overrides + ["analog.device=ideal"], n=4)
    sweep, _ = build_rule(cfg_it, m).sweep_timer(x, y)
    assert sweep().sweeps == 1


def test_what_bench_times_is_the_solver_registry_entry():
    """Review of session 10: what ``bench`` times of a solver (one sweep or a whole phase) is its
    registry entry (``register_solver(..., timed=...)``), not an attribute on the function: the
    settle of both energies times a phase, the iterative solvers a sweep; the rule's budget
    follows the entry (a solver registered ``phase`` under another name times a whole phase), and
    an unknown unit is refused at registration."""
    from analog_ep.solvers import base as B
    from analog_ep.solvers import settle as ST

    settle, it = load_config(None, MLP + SETTLE), load_config(None, MLP + ["analog.device=ideal"])
    assert B.timed_unit(settle, "hopfield") == B.timed_unit(settle, "pcn") == "phase"
    assert B.timed_unit(it, "hopfield") == B.timed_unit(it, "pcn") == "sweep"
    assert not hasattr(ST.relax_settle, "timed_phase") and not hasattr(ST.relax_settle_pcn, "timed_phase")
    cfg, m, x, y = build_float64(MLP + SETTLE, n=4)
    rule = build_rule(cfg, m)
    assert rule.timed_budget(6) == (6, {"stop": "tol"})
    assert build_rule(it, m).timed_budget(6) == (1, {})
    with pytest.raises(ValueError, match=r"timed must be one of \('sweep', 'phase'\)"):
        B.register_solver("settle", ST.relax_settle, timed="epoch")
    # review of session 11: the units and their budgets are one table (solvers.base), and a solver
    # nobody registered has no unit (no silent "sweep")
    from analog_ep.algorithms import rules as RL
    assert not hasattr(RL, "TIMED_BUDGETS") and RL.TIMED_UNITS is B.TIMED_UNITS
    assert {u: f(6) for u, f in B.TIMED_UNITS.items()} == {"sweep": (1, {}), "phase": (6, {"stop": "tol"})}
    with pytest.raises(KeyError):
        B.timed_unit(settle, "no_such_energy")
