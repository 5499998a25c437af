"""``solver.nudge_rtol``: a nudged phase stops on its residual relative to its displacement from
the free state, against the closed-form nudged state of a linear Hopfield chain.

Reference: with every hidden unit strictly inside its clamp box, the chain's synchronous map is
affine, ``T(s) = A s + c`` (the output's MSE nudge included), and the fixed point of a phase is
``(I - A)^-1 c``: one linear solve, independent of any solver or stopping rule."""

import pytest
import torch

from conftest import tiny_mlp
from analog_ep.config import load_config
from analog_ep.errors import ConfigError
from analog_ep.solvers import build_solver, relax_async, relax_sync


def _chain(seed=0):
    """A float64 chain 8 -> 6 -> 6 -> 6 -> 3 whose weights have spectral norm 0.45 each (the
    async free phase contracts by about 0.4 per sweep) and whose biases centre every node at 0.5 (each bias cancels its
    neighbours' drive at s = 0.5), so with a small input every hidden unit sits inside its box
    and the phases are linear."""
    m, x, y = tiny_mlp(hidden=(6, 6, 6), seed=seed)
    with torch.no_grad():
        ws = [syn.weight for syn in m.all_synapses()]
        for w in ws:
            w.mul_(0.45 / torch.linalg.matrix_norm(w, 2))
        for k, b in enumerate(m.biases):  # node k + 1: in-edge ws[k] (not from the input), out-edge ws[k + 1]
            b.fill_(0.5)
            if k > 0:
                b.sub_(0.5 * ws[k].sum(1))
            if k + 1 < len(ws):
                b.sub_(0.5 * ws[k + 1].sum(0))
        x.mul_(0.2)
    return m, x, y


def _closed_form(m, x, y, beta):
    """The exact fixed point of the phase at ``beta`` (flattened per sample, then split by node),
    from the affine map probed inside the box: at ``p = 0.5`` and at ``p + 0.01 e_i`` (exact
    differences of an affine map)."""
    const = m.const_drive(x)
    sizes = [s.shape[1] for s in m.zero_state(x.shape[0], x)]
    n = sum(sizes)

    def t(flat):
        parts = list(torch.split(flat, sizes, dim=1))
        return torch.cat(m.sync_map(None, parts, const, beta, y), dim=1)

    b, h = x.shape[0], 0.01
    p = torch.full((b, n), 0.5, dtype=x.dtype)
    tp = t(p)
    cols = [(t(p + h * torch.eye(n, dtype=x.dtype)[i]) - tp) / h for i in range(n)]
    a = torch.stack(cols, dim=2)  # (b, n, n): d T / d s
    c = tp - (a @ p.unsqueeze(2)).squeeze(2)
    s = torch.linalg.solve(torch.eye(n, dtype=x.dtype) - a, c)
    return list(torch.split(s, sizes, dim=1))


def _interior(states):
    return all(((s > 1e-6) & (s < 1 - 1e-6)).all() for s in states[:-1])


@pytest.mark.parametrize("solver", [relax_async, relax_sync])
def test_nudge_rtol_reaches_the_closed_form_nudged_state_where_tol_stops_early(solver):
    m, x, y = _chain()
    beta = 1e-4
    free = _closed_form(m, x, y, 0.0)
    exact = _closed_form(m, x, y, beta)
    assert _interior(free) and _interior(exact)  # the reference is the chain's true fixed point
    moved = [(e - f).abs().amax(1) for e, f in zip(exact, free)]  # per node, per sample
    assert all((d > 0).all() for d in moved)
    with torch.no_grad():
        plain, st_plain = solver(m, m.const_drive(x), free, beta=beta, target=y, iters=2000, tol=1e-4)
        rel, st_rel = solver(m, m.const_drive(x), free, beta=beta, target=y, iters=2000, tol=1e-4,
                             nudge_rtol=1e-3)
    # plain tol: the nudge's first change is already below 1e-4, so the phase stops at once and the
    # lowest layers never move (EP's estimate for them is 0)
    assert st_plain.sweeps <= 2 and st_plain.converged.all()
    assert ((plain[0] - free[0]).abs().amax(1) < 0.5 * moved[0]).all()
    # the relative test: every node's displacement from the free state within 2 x 1e-3 of the
    # exact one (a residual r of a map contracting by rho leaves an error up to r rho / (1 - rho):
    # here rho < 0.5 async, about 0.6 sync)
    assert st_rel.converged.all() and st_rel.sweeps < 2000
    for s, e, f, d in zip(rel, exact, free, moved):
        err = (s - e).abs().amax(1)
        assert (err <= 2e-3 * d).all(), (err / d)
    # and the stop came when the last sample passed the test, no later
    assert st_rel.steps.max().item() == st_rel.sweeps


def test_nudge_rtol_error_shrinks_with_rtol():
    """The stopping error follows the stated precision: at most rtol times the displacement, and
    tenfold smaller rtol gives a smaller error by at least fourfold."""
    m, x, y = _chain(seed=1)
    beta = 1e-3
    free, exact = _closed_form(m, x, y, 0.0), _closed_form(m, x, y, beta)
    assert _interior(free) and _interior(exact)
    errs = []
    for rtol in (1e-2, 1e-3, 1e-4):
        with torch.no_grad():
            s, st = relax_async(m, m.const_drive(x), free, beta=beta, target=y, iters=5000, tol=1e-4,
                                nudge_rtol=rtol)
        assert st.converged.all()
        errs.append(max(((a - e).abs().amax() / (e - f).abs().amax()).item()
                        for a, e, f in zip(s, exact, free)))
    assert errs[0] > 4 * errs[1] and errs[1] > 4 * errs[2], errs
    assert all(e <= r for e, r in zip(errs, (1e-2, 1e-3, 1e-4))), errs


def test_free_phase_ignores_nudge_rtol_and_zero_is_plain_tol():
    """beta 0 (free phase, evaluation) stops at tol with or without the option, bit for bit; a
    nudged phase with nudge_rtol 0 is the plain tol phase."""
    m, x, y = _chain()
    const = m.const_drive(x)
    z = m.zero_state(x.shape[0], x)
    with torch.no_grad():
        a, sa = relax_async(m, const, z, iters=300, tol=1e-6)
        b, sb = relax_async(m, const, z, iters=300, tol=1e-6, nudge_rtol=1e-3)
        c, sc = relax_async(m, const, a, beta=0.1, target=y, iters=300, tol=1e-6)
        d, sd = relax_async(m, const, a, beta=0.1, target=y, iters=300, tol=1e-6, nudge_rtol=0.0)
    assert sa.sweeps == sb.sweeps and sc.sweeps == sd.sweeps
    for u, v in list(zip(a, b)) + list(zip(c, d)):
        assert torch.equal(u, v)
    assert torch.equal(sa.converged, sb.converged) and torch.equal(sc.steps, sd.steps)


def test_a_node_the_nudge_has_not_reached_has_not_converged():
    """One sweep of the async chain moves the output only (the odd nodes update first from the
    free state): nodes 1-3 have residual 0 and displacement 0, so no sample has converged."""
    m, x, y = _chain()
    with torch.no_grad():  # an exact fixed point of the float64 sweep (its residual reaches 0)
        free, st0 = relax_async(m, m.const_drive(x), m.zero_state(x.shape[0], x), iters=200, tol=0.0)
        assert st0.residual.max() == 0
        s, st = relax_async(m, m.const_drive(x), free, beta=1e-4, target=y, iters=1, tol=1e-4, nudge_rtol=0.5)
    assert torch.equal(s[0], free[0]) and not torch.equal(s[-1], free[-1])
    assert not st.converged.any() and (st.steps == 1).all()


def test_build_solver_binds_nudge_rtol_only_when_set():
    off = build_solver(load_config(None, []), "hopfield", 1)
    on = build_solver(load_config(None, ["solver.nudge_rtol=0.001"]), "hopfield", 1)
    assert "nudge_rtol" not in off.keywords and on.keywords["nudge_rtol"] == 0.001


@pytest.mark.parametrize("overrides, match", [
    (["solver.nudge_rtol=-1"], "solver.nudge_rtol: must be >= 0"),
    (["model.name=pcn_mlp", "solver.nudge_rtol=0.01"], "solver.nudge_rtol: applies to the iterative nudged"),
])
def test_nudge_rtol_bad_input_is_one_line(overrides, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, overrides)


def test_nudge_rtol_reads_the_host_only_every_check_every_sweeps():
    """The relative test is on the device per sweep (``steps`` exact) and the host reads its
    all-converged flag every ``check_every`` sweeps, as under ``tol``: the phase ends on a
    multiple of 4, within 4 sweeps of the last sample's convergence."""
    m, x, y = _chain(seed=1)
    free = _closed_form(m, x, y, 0.0)
    with torch.no_grad():
        _, one = relax_async(m, m.const_drive(x), free, beta=1e-3, target=y, iters=500, tol=1e-4, nudge_rtol=1e-3)
        _, four = relax_async(m, m.const_drive(x), free, beta=1e-3, target=y, iters=500, tol=1e-4, nudge_rtol=1e-3,
                              check_every=4)
    assert torch.equal(one.steps, four.steps) and one.sweeps == one.steps.max().item()
    assert four.sweeps % 4 == 0 and one.sweeps <= four.sweeps < one.sweeps + 4


def test_gradcheck_nudge_iters_caps_the_nudged_phases_and_reports_them():
    """``gradcheck(..., nudge_iters=N)`` runs each nudged phase at most N sweeps (a training run's
    budget) and reports the sweeps and the stop test's converged fraction per phase. Reference:
    the chain's closed-form phases. One async sweep from the free state moves only the output
    (the test above), so at N = 1 the first layer's estimate is exactly 0 (cosine 0, relative
    error 1) and no sample has converged; with a budget the relative stop ends before, the
    estimate matches the exact gradient (implicit differentiation) to the rtol's precision."""
    import functools

    from analog_ep.algorithms.gradcheck import gradcheck

    m, x, y = _chain()
    with torch.no_grad():
        free, _ = relax_async(m, m.const_drive(x), m.zero_state(x.shape[0], x), iters=400, tol=0.0)
    assert _interior(free) and _interior(_closed_form(m, x, y, 1e-3))
    solver = functools.partial(relax_async, nudge_rtol=1e-3)
    one = gradcheck(m, x, y, solver, [1e-3], "centered", iters=400, tol=1e-13, nudge_iters=1)
    full = gradcheck(m, x, y, solver, [1e-3], "centered", iters=400, tol=1e-13, nudge_iters=300)
    assert [(p["phase"], p["sweeps"], p["converged_fraction"]) for p in one["nudged"]] == \
        [("nudge+", 1, 0.0), ("nudge-", 1, 0.0)]
    assert one["layers"][0]["cosine"] == 0.0 and one["layers"][0]["rel_error"] == pytest.approx(1.0)
    assert all(1 < p["sweeps"] < 300 and p["converged_fraction"] == 1.0 for p in full["nudged"])
    for row in full["layers"]:
        assert row["cosine"] > 0.9999 and row["rel_error"] < 1e-2, row
    # None keeps the old behaviour: the nudged phases get the free phase's budget
    same = gradcheck(m, x, y, solver, [1e-3], "centered", iters=300, tol=1e-13)
    assert [r["cosine"] for r in same["layers"]] == [r["cosine"] for r in full["layers"]]


@pytest.mark.parametrize("args, match", [
    (["--nudge-iters", "0"], "--nudge-iters: must be >= 1"),
    (["--set", "model.name=pcn_mlp", "--nudge-iters", "5"], "--nudge-iters: applies to EP's gradcheck"),
    (["--set", "algorithm=rbp", "--nudge-iters", "5"], "--nudge-iters: applies to EP's gradcheck"),
])
def test_gradcheck_nudge_iters_bad_input_is_one_line(args, match):
    from typer.testing import CliRunner

    from analog_ep.cli import app

    res = CliRunner().invoke(app, ["gradcheck", "--set", "model.hidden=[8]", "--set", "data.train_size=50",
                                   "--batch", "2", "--betas", "0.01", *args])
    assert res.exit_code == 2 and match in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.output
