"""Hardware event counts of the storages (issue 19, item 1; analog_ep.synapses.counters), each
against a deliberately plain reference: read counts by loops over samples, conv patches and
tiles; pulse statistics by loops over tiles, rows and devices; relaxation counts against the
solver's own statistics; the checkpoint, the off switch and the data-parallel sum."""

import copy
import math

import pytest
import torch

from analog_ep.analog import reads as R
from analog_ep.analog.cards import load_device
from analog_ep.analog.periphery import PeripheryParams
from analog_ep.analog.storage import AnalogStorage
from analog_ep.config import load_config
from analog_ep.synapses.counters import (PHASES, READ_FIELDS, READ_KINDS, UPDATE_FIELDS,
                                         PhaseCounter, diff_counts, sum_counts)
from analog_ep.synapses.storage import DigitalStorage
from analog_ep.train.loop import make_trainer

PARAMS = load_device("memristor").params
NOISY = dict(inp_bits=6, inp_bound=1.0, out_bits=7, out_bound=4.0, out_noise_std=0.02)
BM = dict(NOISY, out_bound=0.3, bound_management="iterative")   # saturates: re-reads happen


# ------------------------------------------------------------------ plain references
def blocks(n: int, most: int, tiling: str) -> list[int]:
    """Lines per tile, written out: ``fill`` takes ``most`` lines while they last; ``equal``
    makes the fewest tiles and deals the lines out one by one."""
    if tiling == "fill":
        out, left = [], n
        while left > 0:
            out.append(min(most, left))
            left -= most
        return out
    k = -(-n // most)
    out = [0] * k
    for i in range(n):
        out[i % k] += 1
    return out


def conv_row_blocks(c_in: int, kh: int, kw: int, max_rows: int, tiling: str) -> list[int]:
    per = min(c_in, max_rows // (kh * kw))          # whole channels per tile
    return [c * kh * kw for c in blocks(c_in, per, tiling)]


def ref_reads(kind: str, vectors: int, row_blocks: list[int], col_blocks: list[int], analog=True) -> dict:
    """The reads' counts by a loop over vector reads and tiles."""
    c = dict.fromkeys(READ_FIELDS, 0)
    rows, cols = sum(row_blocks), sum(col_blocks)
    for _ in range(vectors):
        for r in row_blocks:
            for q in col_blocks:
                c["cell_reads"] += r * q
                c["macs"] += r * q
                c["rows_driven"] += r if kind == "forward" else q
                c["adc_conversions"] += q if kind == "forward" else r
        c["vector_reads"] += 1
        # each output line sums one partial per tile block along the summed dimension
        outputs, summed = (cols, len(row_blocks)) if kind == "forward" else (rows, len(col_blocks))
        for _ in range(outputs):
            c["partial_adds"] += summed - 1
    c["dac_conversions"] = c["rows_driven"]
    if not analog:
        c = {f: (v if f == "macs" else 0) for f, v in c.items()}
    return c


def out_positions(size: int, k: int, stride: int, pad: int) -> int:
    """Output pixels of a conv along one axis, by walking the kernel over the padded input."""
    n, start = 0, 0
    while start + k <= size + 2 * pad:
        n += 1
        start += stride
    return n


def reads_of(storage, phase="inference", kind="forward") -> dict:
    return storage.events.counts()["phases"].get(phase, {}).get(kind, dict.fromkeys(READ_FIELDS, 0))


def _store(w, periph, **kw):
    return AnalogStorage(w, PARAMS, periph, seed=3, **kw)


# ------------------------------------------------------------------ reads
@pytest.mark.parametrize("tiling", ["fill", "equal"])
@pytest.mark.parametrize("periph", [dict(), NOISY, BM,
                                    dict(NOISY, noise_management="abs_max", nm_scope="tile")])
def test_dense_reads_count_every_tile(tiling, periph):
    g = torch.Generator().manual_seed(0)
    w = torch.randn(11, 13, generator=g) * 0.3         # 13 rows (inputs) x 11 columns (outputs)
    s = _store(w, PeripheryParams(**periph, tiling=tiling), max_rows=5, max_cols=4)
    rb, cb = blocks(13, 5, tiling), blocks(11, 4, tiling)
    assert len(rb) == 3 and len(cb) == 3
    s.begin_phase("free")
    s.linear(torch.randn(7, 13, generator=g))
    s.linear(torch.randn(2, 13, generator=g))
    s.linear_t(torch.randn(6, 11, generator=g))
    fwd, tr = reads_of(s, "free", "forward"), reads_of(s, "free", "transposed")
    bm = fwd.pop("bm_rereads")
    assert fwd == {k: v for k, v in ref_reads("forward", 9, rb, cb).items() if k != "bm_rereads"}
    assert tr == ref_reads("transposed", 6, rb, cb)
    # bound management re-reads: the row blocks the plain loop of test_bound_management re-reads
    # (the storage's bm_rereads buffer, checked there), each re-reading its column tiles
    assert bm == int(s.bm_rereads) * len(cb)
    if periph.get("bound_management") == "iterative":
        assert bm > 0
    assert int(s.reads) == 9 * len(rb) + 6 * len(cb)   # the older tile-read counter is unchanged
    assert set(s.events.counts()["phases"]) == {"free"}


@pytest.mark.parametrize("tiling", ["fill", "equal"])
@pytest.mark.parametrize("periph", [dict(), NOISY, BM])
@pytest.mark.parametrize("geom", [(5, 3, 3, 1, 1, 7), (4, 2, 2, 2, 0, 8)])
def test_conv_reads_count_every_patch_and_tile(tiling, periph, geom):
    c_in, k, _, stride, pad, size = geom
    g = torch.Generator().manual_seed(1)
    c_out = 5
    w = torch.randn(c_out, c_in, k, k, generator=g) * 0.3
    max_rows, max_cols = 2 * k * k, 2
    s = _store(w, PeripheryParams(**periph, tiling=tiling), max_rows=max_rows, max_cols=max_cols)
    rb, cb = conv_row_blocks(c_in, k, k, max_rows, tiling), blocks(c_out, max_cols, tiling)
    assert len(rb) >= 2 and len(cb) >= 3
    x = torch.randn(3, c_in, size, size, generator=g)
    s.begin_phase("nudge+")
    y = s.conv(x, stride, pad)
    pos = out_positions(size, k, stride, pad) ** 2
    assert y.shape[2] * y.shape[3] == pos
    fwd = reads_of(s, "nudge+", "forward")
    bm = fwd.pop("bm_rereads")
    assert fwd == {k_: v for k_, v in ref_reads("forward", 3 * pos, rb, cb).items() if k_ != "bm_rereads"}
    assert bm == int(s.bm_rereads) * len(cb)
    # the transposed conv drives each forward output pixel once (one read per sample and pixel)
    s.conv_t(torch.randn(3, c_out, y.shape[2], y.shape[3], generator=g), stride, pad,
             (size - ((y.shape[2] - 1) * stride - 2 * pad + k),) * 2)
    assert reads_of(s, "nudge+", "transposed") == ref_reads("transposed", 3 * pos, rb, cb)


def test_digital_storages_count_macs_only():
    g = torch.Generator().manual_seed(2)
    d = DigitalStorage(torch.randn(6, 9, generator=g))
    d.begin_phase("free")
    d.linear(torch.randn(4, 9, generator=g))
    d.linear_bias(torch.randn(3, 9, generator=g), torch.zeros(6))
    d.linear_t(torch.randn(5, 6, generator=g))
    assert reads_of(d, "free", "forward") == ref_reads("forward", 7, [9], [6], analog=False)
    assert reads_of(d, "free", "transposed") == ref_reads("transposed", 5, [9], [6], analog=False)
    c = DigitalStorage(torch.randn(4, 3, 3, 3, generator=g))
    c.begin_phase("relax")
    y = c.conv(torch.randn(2, 3, 6, 6, generator=g), 2, 1)
    pos = out_positions(6, 3, 2, 1) ** 2
    c.conv_t(torch.randn(2, 4, y.shape[2], y.shape[3], generator=g), 2, 1, (1, 1))
    assert reads_of(c, "relax", "forward")["macs"] == 2 * pos * 27 * 4
    assert reads_of(c, "relax", "transposed")["macs"] == 2 * pos * 27 * 4
    assert reads_of(c, "relax", "forward")["vector_reads"] == 0


@pytest.mark.parametrize("analog, mode", [(False, "ideal"), (True, "analog"), (True, "ideal")])
def test_backprop_backward_counts(analog, mode):
    """The backprop twin: forward reads under ``forward``; the backward pass under ``backward``:
    the analog transposed read (bp_backward analog) or the ideal product's MACs (digital storage,
    bp_backward ideal); the weight gradient's MACs as the update's correlation MACs."""
    g = torch.Generator().manual_seed(4)
    w = torch.randn(6, 10, generator=g) * 0.3
    s = _store(w, PeripheryParams(**NOISY), max_rows=4, bp_backward=mode) if analog else DigitalStorage(w)
    s.proposal.requires_grad_(True) if analog else None
    s.events.set_phase("forward")
    x = torch.randn(5, 10, generator=g, requires_grad=True)
    y = s.linear(x)
    s.events.set_phase("backward")
    y.sum().backward()
    c = s.events.counts()
    assert c["phases"]["forward"]["forward"] == ref_reads("forward", 5, blocks(10, 4, "fill") if analog else [10],
                                                          [6], analog)
    assert c["update"]["macs"] == 5 * 10 * 6
    back = c["phases"]["backward"]["transposed"]
    if analog and mode == "analog":
        assert back == ref_reads("transposed", 5, blocks(10, 4, "fill"), [6])
    else:
        assert back == ref_reads("transposed", 5, [10], [6], analog=False)
    assert set(c["phases"]) == {"forward", "backward"}


# ------------------------------------------------------------------ updates
def ref_pulse_stats(counts: list[torch.Tensor], row_blocks, col_blocks) -> dict:
    """Per update (signed counts, rows x cols), loops over tiles, their rows and devices."""
    out = dict(set_pulses=0, reset_pulses=0, rows_written=0, row_slots=0, pulse_rounds=0)
    for n in counts:
        rounds = 0
        r0 = 0
        for rb in row_blocks:
            c0 = 0
            for cb in col_blocks:
                tile_set = tile_reset = 0
                for r in range(r0, r0 + rb):
                    row_set = row_reset = 0
                    for c in range(c0, c0 + cb):
                        v = int(n[r, c])
                        out["set_pulses"] += max(v, 0)
                        out["reset_pulses"] += max(-v, 0)
                        row_set, row_reset = max(row_set, max(v, 0)), max(row_reset, max(-v, 0))
                    out["rows_written"] += (row_set + row_reset) > 0
                    out["row_slots"] += row_set + row_reset
                    tile_set, tile_reset = max(tile_set, row_set), max(tile_reset, row_reset)
                rounds = max(rounds, tile_set + tile_reset)
                c0 += cb
            r0 += rb
        out["pulse_rounds"] += rounds
    return out


def _recording(storage):
    """Record the signed counts each update hands the counter (crossbar rows x cols)."""
    seen = []
    inner = storage.events.pulses

    def pulses(n, stats=None):   # stats: the fused update's own statistic, checked by the counts below
        seen.append(n.reshape(n.shape[0], -1).t().clone())
        inner(n, stats)
    storage.events.pulses = pulses
    return seen


@pytest.mark.parametrize("upd", [dict(update="pulsed", pulse_scheme="rounded"),
                                 dict(update="pulsed", pulse_scheme="rounded", rounding="deterministic"),
                                 dict(update="mixed"),
                                 dict(update="pulsed", pulse_scheme="bitstream"),
                                 dict(update="pulsed", pulse_scheme="bitstream", pulse_accumulation="per_vector")])
@pytest.mark.parametrize("conv", [False, True])
def test_pulse_counts_against_a_loop_over_tiles_rows_and_devices(upd, conv):
    g = torch.Generator().manual_seed(5)
    if conv:
        w = torch.randn(5, 3, 2, 2, generator=g) * 0.2
        rb, cb = conv_row_blocks(3, 2, 2, 8, "fill"), blocks(5, 2, "fill")
    else:
        w = torch.randn(7, 9, generator=g) * 0.2
        rb, cb = blocks(9, 4, "fill"), blocks(7, 3, "fill")
    s = _store(w, PeripheryParams(), max_rows=8 if conv else 4, max_cols=2 if conv else 3, **upd)
    seen = _recording(s)
    rows = math.prod(w.shape[1:])
    for step in range(3):
        d = torch.randn(6, w.shape[0], generator=g) * 0.3
        x = torch.randn(6, rows, generator=g)
        delta = (d.t() @ x).reshape(w.shape) * 0.05
        s.apply_update(delta, (d * 0.05, x))
    ref = ref_pulse_stats(seen, rb, cb)
    got = s.events.counts()["update"]
    assert got["updates"] == 3
    assert {k: got[k] for k in ref} == ref
    assert got["set_pulses"] + got["reset_pulses"] == int(s.pulses) > 0
    # signed counts that reproduce the devices' wear: the recorded counts are the ones sent
    assert int(sum(n.abs().sum() for n in seen)) == int(s.wear.sum())
    if upd.get("pulse_accumulation") == "per_vector":
        assert len(seen) == 3 * 6                    # each vector is one write of the crossbar


def test_an_ideal_update_sends_no_pulse():
    g = torch.Generator().manual_seed(6)
    w = torch.randn(4, 5, generator=g) * 0.2
    s = _store(w, PeripheryParams(), update="ideal")
    before = s.weight.clone()
    s.apply_update(torch.full_like(w, 0.02))
    assert not torch.equal(s.weight, before)
    got = s.events.counts()["update"]
    assert got["updates"] == 1 and all(got[f] == 0 for f in UPDATE_FIELDS if f != "updates")


def test_row_pulse_stats_closed_form():
    from analog_ep.synapses.counters import row_pulse_stats
    n = torch.tensor([[2, -1, 0], [0, 0, 0], [-3, 0, 1]])     # 3 rows x 3 cols, tiles rows [2, 1] x cols [2, 1]
    got = row_pulse_stats(n.t(), [2, 1], [2, 1]).tolist()   # the weight's layout: cols x rows
    # set 3, reset 4; rows written: (r0,c0-1) (r2,c0-1) (r2,c2); row slots: 2+1, 3, 1;
    # tiles: (r0-1,c0-1): 2+1, (r0-1,c2): 0, (r2,c0-1): 0+3, (r2,c2): 1 -> rounds 3
    assert got == [3, 4, 3, 7, 3]


# ------------------------------------------------------------------ a whole EP step
def _cfg(*extra):
    return load_config(None, ["data.name=digits", "data.batch_size=8", "data.train_size=16", "data.test_size=8",
                              "model.hidden=[12]", "solver.tol=0", "solver.stop=tol", "solver.free_iters=6", "solver.nudge_iters=3",
                              "analog.device=memristor", "analog.max_rows=40", "analog.max_cols=8",
                              "compute.accelerator=cpu", *extra])


def _step(cfg, steps=1):
    tr = make_trainer(cfg, None)
    x, y = next(iter(tr.batches(tr.train_set, None)))
    stats = [tr.train_step(x, y)[2] for _ in range(steps)]
    return tr, x, stats


def test_ep_step_phases_match_the_solver_and_the_tiles():
    tr, x, [stats] = _step(_cfg())
    rec = tr.model.event_counts()
    b = x.shape[0]
    assert set(rec["phases"]) == {"free", "nudge+", "nudge-"}
    neurons = sum(math.prod(s) for s in tr.model.node_shapes)
    for phase in ("free", "nudge+", "nudge-"):
        p = rec["phases"][phase]
        assert p["sweeps"] == stats[phase].sweeps and p["samples"] == b
        assert p["neuron_updates"] == stats[phase].sweeps * b * neurons
    l0, l1 = rec["layers"]
    assert (l0["rows"], l0["cols"], l0["tile_rows"], l0["tile_cols"]) == (64, 12, [40, 24], [8, 4])
    assert l0["analog"] and l0["kind"] == "dense" and l0["cells_per_weight"] == 2
    assert PARAMS.g_min_us <= l0["g_mean_us"] <= PARAMS.g_max_us
    # async sweeps: layer 0 read forward from the clamped input once per phase (the constant
    # drive, computed once in the free phase) and transposed never; layer 1 both ways per sweep
    t = stats["free"].sweeps
    assert l0["phases"]["free"]["forward"]["vector_reads"] == b
    assert l0["phases"]["free"]["transposed"]["vector_reads"] == 0
    assert "nudge+" not in l0["phases"]
    assert l1["phases"]["free"]["forward"]["vector_reads"] == t * b
    assert l1["phases"]["free"]["transposed"]["vector_reads"] == t * b
    for layer in rec["layers"]:
        assert layer["update"]["updates"] == 1
        assert layer["update"]["macs"] == 2 * b * layer["rows"] * layer["cols"]  # two phases' correlates


def test_doubling_the_free_budget_doubles_the_free_phase_reads():
    """With tol 0 the free phase runs its whole budget: its reads are the constant drive (layer
    0's forward read of the clamped input, once) plus the sweeps' reads, which double."""
    counts = {}
    for iters in (5, 10):
        tr, x, _ = _step(_cfg(f"solver.free_iters={iters}"))
        counts[iters] = tr.model.event_counts()
    b = x.shape[0]
    for i, (one, two) in enumerate(zip(counts[5]["layers"], counts[10]["layers"])):
        for kind in READ_KINDS:
            c1, c2 = one["phases"]["free"][kind], two["phases"]["free"][kind]
            const = b if (i, kind) == (0, "forward") else 0            # vector reads of the constant drive
            per = {f: (v // c1["vector_reads"] if c1["vector_reads"] else 0) for f, v in c1.items()}
            for f in READ_FIELDS:
                if f != "bm_rereads":
                    assert c2[f] - const * per[f] == 2 * (c1[f] - const * per[f]), (i, kind, f)
    assert counts[10]["phases"]["free"]["sweeps"] == 2 * counts[5]["phases"]["free"]["sweeps"] == 10
    assert counts[10]["layers"][1]["phases"]["free"]["transposed"]["vector_reads"] == 10 * b
    assert counts[10]["phases"]["nudge+"] == counts[5]["phases"]["nudge+"]


def test_counts_accumulate_diff_and_survive_a_checkpoint():
    tr, x, _ = _step(_cfg(), steps=2)
    model = tr.model
    first = model.event_counts()
    _, y = next(iter(tr.batches(tr.train_set, None)))
    tr.train_step(x, y)
    after = model.event_counts()
    step = diff_counts(first, after)
    assert step["phases"]["free"]["samples"] == x.shape[0]
    assert step["layers"][1]["update"]["updates"] == 1 and step["layers"][1]["rows"] == 12
    assert sum_counts([first, step]) == after
    # round trip through the state dict (a checkpoint) into a fresh model
    tr2 = make_trainer(_cfg(), None)
    tr2.model.load_state_dict(copy.deepcopy(model.state_dict()))
    assert tr2.model.event_counts() == after
    # a checkpoint from before the counters: zero counts, still loads
    old = {k: v for k, v in model.state_dict().items() if "events." not in k and "phase_counts" not in k}
    tr3 = make_trainer(_cfg(), None)
    tr3.model.load_state_dict(old)
    rec = tr3.model.event_counts()
    assert rec["phases"] == {} and all(layer["phases"] == {} for layer in rec["layers"])
    assert all(v == 0 for layer in rec["layers"] for v in layer["update"].values())


def test_count_events_false_counts_nothing_and_changes_nothing():
    on, x, _ = _step(_cfg())
    off, _, _ = _step(_cfg("compute.count_events=false"))
    rec = off.model.event_counts()
    assert rec["phases"] == {}
    for layer in rec["layers"]:
        assert layer["phases"] == {} and all(v == 0 for v in layer["update"].values())
    assert all(int(s.storage.reads) == 0 for s in off.model.all_synapses())
    for a, b in zip(on.model.stored_weights(), off.model.stored_weights()):
        assert torch.equal(a, b)


def test_evaluation_counts_as_inference():
    tr, _, _ = _step(_cfg())
    before = tr.model.event_counts()
    tr.evaluate(tr.test_set)
    d = diff_counts(before, tr.model.event_counts())
    assert set(k for k, v in d["phases"].items() if v["samples"]) == {"inference"}
    assert d["phases"]["inference"]["samples"] == len(tr.test_set)
    assert d["layers"][1]["phases"]["inference"]["forward"]["vector_reads"] > 0


def test_backprop_step_counts_forward_and_backward():
    tr, x, _ = _step(load_config(None, ["data.name=digits", "data.batch_size=8", "data.train_size=16",
                                        "data.test_size=8", "model.hidden=[12]", "algorithm=bp",
                                        "compute.accelerator=cpu"]))
    rec = tr.model.event_counts()
    b = x.shape[0]
    assert set(rec["phases"]) == {"forward", "backward"}
    l0, l1 = rec["layers"]
    assert not l0["analog"] and l0["dac_bits"] is None and l0["g_mean_us"] is None
    assert l0["phases"]["forward"]["forward"]["macs"] == b * 64 * 12
    assert "backward" not in l0["phases"]                    # the clamped input needs no gradient
    assert l1["phases"]["backward"]["transposed"]["macs"] == b * 12 * 10
    assert l0["update"]["macs"] == b * 64 * 12 and l1["update"]["macs"] == b * 12 * 10


# ------------------------------------------------------------------ data parallel
def fake_group(world: int):
    """Per-rank ``all_reduce_`` functions of a fake process group: the ranks run in threads, and
    each call waits for every rank's tensors, then gives each the sum (float64, as the real one)."""
    import threading

    barrier = threading.Barrier(world)
    slots: list = [None] * world

    def for_rank(r):
        def all_reduce_(tensors):
            slots[r] = [t.detach().to(torch.float64).clone() for t in tensors]
            barrier.wait()
            total = [sum(slots[q][i] for q in range(world)) for i in range(len(tensors))]
            barrier.wait()
            for t, v in zip(tensors, total):
                t.copy_(v.to(t.dtype))
        return all_reduce_
    return [for_rank(r) for r in range(world)]


def _in_threads(fns):
    import threading

    errors = []

    def run(fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - re-raised below
            errors.append(e)
    threads = [threading.Thread(target=run, args=(fn,)) for fn in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_sum_over_ranks_adds_the_shards_once():
    """Two replicas (same seed) read the two shards of a batch and apply the same update; summed
    over a fake process group both hold the counts of one process that read the whole batch, and
    a second sum adds only what came after the first (the update counts are not multiplied)."""
    g = torch.Generator().manual_seed(7)
    w = torch.randn(5, 9, generator=g) * 0.3
    x = torch.randn(10, 9, generator=g)
    whole = _store(w, PeripheryParams(**BM), max_rows=4)
    ranks = [_store(w, PeripheryParams(**BM), max_rows=4) for _ in range(2)]
    for r in [whole] + ranks:
        r.set_rows(None)
        r.begin_phase("free")
    whole.linear(x)
    ranks[0].linear(x[:6])
    ranks[1].linear(x[6:])
    for s in [whole] + ranks:
        s.events.correlate(3)
        s.apply_update(torch.full_like(w, 0.03))
    group = fake_group(2)
    _in_threads([lambda r=r, f=f: r.sum_counters(f) for r, f in zip(ranks, group)])
    # the shards' re-reads and reads add up; the one update is counted once
    assert ranks[0].events.counts() == ranks[1].events.counts()
    want = whole.events.counts()
    got = ranks[0].events.counts()
    assert got["update"] == {**want["update"], "macs": 2 * want["update"]["macs"]}
    fwd_w, fwd_g = dict(want["phases"]["free"]["forward"]), dict(got["phases"]["free"]["forward"])
    fwd_w.pop("bm_rereads"), fwd_g.pop("bm_rereads")
    assert fwd_g == fwd_w
    assert int(ranks[0].reads) == int(ranks[1].reads) == int(whole.reads)
    ranks[0].linear_t(torch.randn(3, 5, generator=g))
    ranks[1].begin_phase("nudge+")
    _in_threads([lambda r=r, f=f: r.sum_counters(f) for r, f in zip(ranks, group)])
    got = ranks[0].events.counts()
    assert got == ranks[1].events.counts()
    assert got["phases"]["free"]["transposed"]["vector_reads"] == 3
    assert got["phases"]["free"]["forward"]["vector_reads"] == 10


def test_phase_counts_sum_samples_and_take_the_largest_sweeps():
    counters = [PhaseCounter(), PhaseCounter()]
    for p, (n, t) in zip(counters, ((6, 5), (4, 7))):
        p.set_phase("free")
        p.add(n, t, n * t * 3)
        p.add_settle(n, torch.full((n,), 0.5))  # each rank's samples settled 0.5 s each
    group = fake_group(2)
    _in_threads([lambda r=r: counters[r].sum_over_ranks(group[r], r, 2, "cpu") for r in range(2)])
    want = {"free": {"samples": 10, "sweeps": 7, "neuron_updates": 6 * 5 * 3 + 4 * 7 * 3, "settle_samples": 10,
                     "settle_time_s": 5.0}}
    assert counters[0].counts() == counters[1].counts() == want
    counters[0].add(6, 2, 0)
    counters[1].add(4, 2, 0)
    counters[1].add_settle(4, torch.full((4,), 0.25))
    _in_threads([lambda r=r: counters[r].sum_over_ranks(group[r], r, 2, "cpu") for r in range(2)])
    assert counters[0].counts()["free"]["sweeps"] == 9 and counters[1].counts()["free"]["samples"] == 20
    # the settled time and samples: every rank's increments since the last sum, once
    assert counters[0].counts()["free"]["settle_time_s"] == counters[1].counts()["free"]["settle_time_s"] == 6.0
    assert counters[0].counts()["free"]["settle_samples"] == 14


def test_record_layout_is_the_contract():
    tr, _, _ = _step(_cfg())
    rec = tr.model.event_counts()
    assert set(rec) == {"layers", "phases"}
    keys = {"name", "analog", "kind", "rows", "cols", "tile_rows", "tile_cols", "cells_per_weight", "dac_bits",
            "adc_bits", "g_mean_us", "update_kind", "bl", "read_integration", "phases", "readouts", "update"}
    for layer in rec["layers"]:
        assert set(layer) == keys
        assert layer["readouts"] == {}  # an iterative run reads no node out at equilibrium
        assert set(layer["update"]) == set(UPDATE_FIELDS)
        for phase, kinds in layer["phases"].items():
            assert phase in PHASES and set(kinds) == set(READ_KINDS)
            assert all(set(v) == set(READ_FIELDS) for v in kinds.values())
            assert all(isinstance(n, int) for v in kinds.values() for n in v.values())
    assert [layer["name"] for layer in rec["layers"]] == ["synapses.0", "synapses.1"]
