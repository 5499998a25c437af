"""Event counters: the hardware events a synapse's storage performs, for the cost model (issue 19,
DESIGN section 7b).

Every storage owns an :class:`EventCounter`; ``model.event_counts()`` gathers them into one plain
record (host ints and floats) that :mod:`analog_ep.hardware` prices. Counts are cumulative since
the model was built (kept in checkpoints): an epoch's or a step's counts are the difference of two
records (:func:`diff_counts`).

**Phases** (:data:`PHASES`): a storage counts its reads under the phase the model last named
(``model.begin_phase(name)`` / ``model.tag_phase(name)``): ``free``, ``nudge+``, ``nudge-`` (EP and
EP on PCNs), ``forward`` / ``backward`` (the backprop twin), ``relax`` (predictive coding),
``inference`` (evaluation and prediction).

**Reads** (:data:`READ_FIELDS`, per phase and read kind ``forward`` / ``transposed``), on a layer
of ``rows x cols`` crossbar lines (rows: ``in_features`` or ``C_in kh kw``; cols: ``out_features``
or ``C_out``) tiled into row blocks ``tile_rows`` and column blocks ``tile_cols``. One *vector
read* applies one input vector to every tile of the layer (one per sample; per sample and output
pixel for convolutions). Per vector read:

=================  ========================================  ==========================================
field              forward read (drives rows, reads cols)    transposed read (drives cols, reads rows)
=================  ========================================  ==========================================
``vector_reads``   1                                         1
``rows_driven``    ``n_col_blocks * rows``                   ``n_row_blocks * cols``
``dac_conversions````rows_driven``                           ``rows_driven``
``cell_reads``     ``rows * cols``                           ``rows * cols``
``adc_conversions````n_row_blocks * cols``                   ``n_col_blocks * rows``
``partial_adds``   ``(n_row_blocks - 1) * cols``             ``(n_col_blocks - 1) * rows``
``macs``           ``rows * cols``                           ``rows * cols``
=================  ========================================  ==========================================

``rows_driven`` counts the *driven lines* of every tile (each tile has its own drivers): a
transposed read drives the tiles' columns. ``bm_rereads`` (data dependent, a device tensor): the
extra tile reads of iterative bound management, one per re-read of one tile (a saturated row
block re-reads every tile of the block: ``n_col_blocks`` tile reads). These counts are Python
ints added per read call (no device work), except ``bm_rereads``. A digital storage counts only
``macs`` (same closed form; the backprop twin's backward pass: the input gradient under
``backward`` / ``transposed``, the weight gradient under the update's ``macs``).

**Updates** (:data:`UPDATE_FIELDS`): ``updates`` (apply_update calls) and ``macs`` (the
correlations' multiply-accumulates: the contrastive correlate of EP and PC, the backprop twin's
weight gradient) are host ints; the pulse counts are int64 device tensors, added in place per
update (:meth:`EventCounter.pulses`): ``set_pulses`` / ``reset_pulses`` (potentiation / depression
pulses summed over devices), ``rows_written`` (tile rows, summed over tiles, in which a device got
a pulse), ``row_slots`` (per tile row ``max set + max reset`` pulses of its devices, summed: the
row-by-row write time in pulse widths, NeuroSim's scheme) and ``pulse_rounds`` (per update the
largest over tiles of ``max set + max reset`` pulses of a device of the tile: the parallel
outer-product write time). An ``ideal`` update sends no pulse.

**Settle read-outs** (``analog.relaxation: settle``, DESIGN section 7c): the settling reads count
nothing (no DAC, no ADC in the loop); the settle solver counts, per phase, each node's one
equilibrium read-out conversion on the storage whose converters read the node out
(:meth:`EventCounter.readout`: ``readouts``, host ints, one per node value per sample), and the
settled time on the :class:`PhaseCounter` (``settle_samples``, host; ``settle_time_s``, the
samples' settle times summed, a device tensor).

**Layer description** of a record (:data:`STATE_KEYS`): besides the geometry and converter bits,
``update_kind`` (how the layer's updates reach its devices, :data:`UPDATE_KINDS`: ``rounded``,
``bitstream``, ``mixed``, ``ideal``; None for a digital layer) and ``bl`` (the pulse cap / train
length), which the cost model prices the update by (:mod:`analog_ep.hardware.cost`).

The device tensors reach the host only in :meth:`EventCounter.counts` (at log time).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

PHASES = ("free", "nudge+", "nudge-", "forward", "backward", "relax", "inference")
READ_KINDS = ("forward", "transposed")
READ_FIELDS = ("vector_reads", "rows_driven", "dac_conversions", "cell_reads", "adc_conversions",
               "partial_adds", "bm_rereads", "macs")
UPDATE_FIELDS = ("updates", "set_pulses", "reset_pulses", "rows_written", "row_slots", "pulse_rounds", "macs")
PHASE_FIELDS = ("samples", "sweeps", "neuron_updates", "settle_samples")
"""Host-int fields of a phase's entry in the record (the record adds ``settle_time_s``, a float:
the settled time summed over the phase's settled samples, seconds, and for a settled phase
``settle_tau_s``, its neurons' time constant)."""
UPDATE_KINDS = ("rounded", "bitstream", "mixed", "ideal")
"""How an analog layer's updates reach its devices (the record's ``update_kind``): ``pulsed`` with
``pulse_scheme`` ``rounded`` or ``bitstream``, ``mixed`` (digital accumulator chi) or ``ideal``."""


def update_kind(update_mode: str, pulse_scheme: str) -> str:
    """The record's ``update_kind`` of an analog storage's ``analog.update`` mode and pulse scheme
    (:data:`UPDATE_KINDS`): a pulsed update is named by its pulse scheme, the others by their mode."""
    return pulse_scheme if update_mode == "pulsed" else update_mode

_PHASE = {p: i for i, p in enumerate(PHASES)}
_KIND = {k: i for i, k in enumerate(READ_KINDS)}
_BM = READ_FIELDS.index("bm_rereads")
_HOST_UPDATE = ("updates", "macs")
_DEVICE_UPDATE = ("set_pulses", "reset_pulses", "rows_written", "row_slots", "pulse_rounds")


def phase_index(name: str) -> int:
    """The index of phase ``name`` in :data:`PHASES`; ValueError naming the valid ones."""
    try:
        return _PHASE[name]
    except KeyError:
        raise ValueError(f"unknown phase {name!r}; valid: {', '.join(PHASES)}") from None


def read_profile(rows: int, cols: int, tile_rows: list[int], tile_cols: list[int], kind: str,
                 analog: bool = True) -> tuple[int, ...]:
    """Counts of one vector read of ``kind`` (aligned with :data:`READ_FIELDS`; module table) on a
    layer of ``rows x cols`` lines tiled into ``tile_rows`` x ``tile_cols`` blocks. A digital
    storage counts only ``macs``."""
    cells = rows * cols
    if not analog:
        return tuple(cells if f == "macs" else 0 for f in READ_FIELDS)
    nr, nc = len(tile_rows), len(tile_cols)
    if kind == "forward":
        driven, adc, adds = nc * rows, nr * cols, (nr - 1) * cols
    else:
        driven, adc, adds = nr * cols, nc * rows, (nc - 1) * rows
    vals = dict(vector_reads=1, rows_driven=driven, dac_conversions=driven, cell_reads=cells,
                adc_conversions=adc, partial_adds=adds, bm_rereads=0, macs=cells)
    return tuple(vals[f] for f in READ_FIELDS)


def row_pulse_stats(n: torch.Tensor, tile_rows: list[int], tile_cols: list[int]) -> torch.Tensor:
    """The data-dependent update counts of one update's signed pulse counts ``n`` in the weight's
    layout (cols x rows of the crossbar: one line per output, positive = potentiation), as an
    int64 tensor aligned with ``set_pulses, reset_pulses, rows_written, row_slots,
    pulse_rounds`` (module docstring), on ``n``'s device, without host sync. Reductions down
    the columns first (the per-row maxima and sums over a tile's lines are elementwise passes over
    contiguous rows, in the counts' own dtype), then the short per-row vectors."""
    absum = n.abs().sum(0, dtype=n.dtype).sum(dtype=torch.int64)
    net = n.sum(0, dtype=n.dtype).sum(dtype=torch.int64)
    ups, downs = [], []
    for block in torch.split(n, tile_cols, 0):                       # (cols of the block, rows)
        ups.append(block.amax(0).clamp(min=0))                        # largest set count of each row
        downs.append(block.amin(0).neg().clamp(min=0))                # largest reset count
    up_r = torch.stack(ups, 1).to(torch.int64)                        # (rows, n_col_blocks)
    down_r = torch.stack(downs, 1).to(torch.int64)
    slots = up_r + down_r
    up_t = torch.stack([b.amax(0) for b in torch.split(up_r, tile_rows, 0)])      # (n_row_blocks, n_col_blocks)
    down_t = torch.stack([b.amax(0) for b in torch.split(down_r, tile_rows, 0)])
    return torch.stack([(absum + net) // 2, (absum - net) // 2, (slots > 0).sum(), slots.sum(),
                        (up_t + down_t).amax()])


class EventCounter(nn.Module):
    """The event counts of one storage (module docstring): per phase and read kind the read
    counts (host ints, from the tile geometry) and the bound-management re-reads (device), the
    update counts (host ``updates`` / ``macs``, device pulse statistics). ``phase`` is the phase
    reads are counted under; ``enabled`` False (``compute.count_events: false``) skips all
    counting. Saved with the storage (``bm``, ``upd`` buffers; host counts as extra state); a
    checkpoint without counters loads with zero counts."""

    def __init__(self, kind: str, rows: int, cols: int, tile_rows: list[int], tile_cols: list[int],
                 analog: bool, device=None):
        super().__init__()
        self.kind, self.rows, self.cols, self.analog = kind, int(rows), int(cols), bool(analog)
        self.tile_rows, self.tile_cols = [int(r) for r in tile_rows], [int(c) for c in tile_cols]
        self.enabled = True
        self.phase = _PHASE["inference"]
        self._profile = [read_profile(self.rows, self.cols, self.tile_rows, self.tile_cols, k, self.analog)
                         for k in READ_KINDS]
        # a bound-management re-read of a row block re-reads each of its column tiles
        self._bm_tiles = (len(self.tile_cols), len(self.tile_rows))
        self.host = self._zero_host()
        self.readouts = [0] * len(PHASES)
        self.updates = self.update_macs = 0
        self.register_buffer("bm", torch.zeros(len(PHASES), len(READ_KINDS), dtype=torch.int64, device=device))
        self.register_buffer("upd", torch.zeros(len(_DEVICE_UPDATE), dtype=torch.int64, device=device))
        # counts made inside torch.compile'd code (compute.compile): per phase and read kind the
        # vector reads and extra MACs, and the correlations' vectors, as tensors, so the graph adds
        # them without guarding on (and recompiling for) host ints
        self.register_buffer("traced", torch.zeros(len(PHASES), len(READ_KINDS), 2, dtype=torch.int64, device=device))
        self.register_buffer("traced_corr", torch.zeros((), dtype=torch.int64, device=device))
        # the counts when the ranks last summed them (data parallel; not saved)
        self._summed: torch.Tensor | None = None

    @staticmethod
    def _zero_host() -> list:
        """Per phase and read kind ``[vector reads, extra MACs]``: every read field is the vector
        reads times the read's per-vector counts (:func:`read_profile`), so a read adds one int."""
        return [[[0, 0] for _ in READ_KINDS] for _ in PHASES]

    # ------------------------------------------------------------------ counting
    def set_phase(self, name: str) -> None:
        self.phase = phase_index(name)

    def read(self, kind: str, vectors: int) -> None:
        """``vectors`` vector reads of ``kind`` under the current phase (host ints only)."""
        if not self.enabled:
            return
        k = _KIND[kind]
        if torch.compiler.is_compiling():
            self.traced[self.phase, k, 0].add_(vectors)
            return
        self.host[self.phase][k][0] += vectors

    def macs(self, kind: str, macs: int) -> None:
        """Multiply-accumulates of a product not read through :meth:`read` (the backprop twin's
        input gradient), under ``kind`` of the current phase."""
        if self.enabled:
            if torch.compiler.is_compiling():
                self.traced[self.phase, _KIND[kind], 1].add_(macs)
                return
            self.host[self.phase][_KIND[kind]][1] += int(macs)

    def rereads(self, kind: str, n: torch.Tensor) -> None:
        """Bound-management re-reads of ``n`` row blocks (a device tensor; each is a re-read of
        every tile of the block)."""
        if self.enabled:
            self.bm[self.phase, _KIND[kind]].add_(n, alpha=self._bm_tiles[_KIND[kind]])

    def correlate(self, vectors: int) -> None:
        """A weight-gradient correlation of ``vectors`` outer products (per sample; per sample and
        output pixel for convolutions): ``vectors * rows * cols`` multiply-accumulates, counted
        as the update's ``macs``."""
        if self.enabled:
            if torch.compiler.is_compiling():
                self.traced_corr.add_(vectors)
                return
            self.update_macs += int(vectors) * self.rows * self.cols

    def count_backward(self, out: torch.Tensor, input_grad: bool, weight_grad: bool, vectors: int) -> None:
        """The backward pass autograd will run through a product of ``vectors`` vector reads whose
        gradient is a digital (ideal) product: when the gradient reaches ``out``, the input
        gradient's ``vectors * rows * cols`` MACs count as ``transposed`` under the phase named
        then (the backprop twin's ``backward``), the weight gradient's as a correlation
        (:meth:`correlate`). A hook on ``out``: nothing runs if no backward pass comes."""
        def hook(_grad):
            if input_grad:
                self.macs("transposed", vectors * self.rows * self.cols)
            if weight_grad:
                self.correlate(vectors)
        out.register_hook(hook)

    def readout(self, values: int) -> None:
        """A settle phase's equilibrium read-out of ``values`` node values (samples x node size)
        through this storage's converters, under the current phase (host ints only)."""
        if self.enabled:
            self.readouts[self.phase] += int(values)

    def update(self) -> None:
        """One update (apply_update call)."""
        if self.enabled:
            self.updates += 1

    def pulses(self, n: torch.Tensor, stats: torch.Tensor | None = None) -> None:
        """The pulse statistics of one update's signed counts ``n`` (the weight's shape: (cols,
        ...) with the crossbar rows flattened behind; :func:`row_pulse_stats`), on the device.
        ``stats``: that statistic when the caller computed it already (the fused pulsed update
        computes it in its pass over the devices, the same numbers:
        ``tests/unit/test_kernels_fused_update.py``)."""
        if self.enabled:
            self.upd.add_(stats if stats is not None else
                          row_pulse_stats(n.reshape(n.shape[0], -1), self.tile_rows, self.tile_cols))

    # ------------------------------------------------------------------ reading
    def record(self, name: str, dac_bits, adc_bits, g_mean_us, cells_per_weight: int,
               update_kind: str | None = None, bl: int | None = None, read_integration: float = 1.0) -> dict:
        """This layer's entry of ``model.event_counts()`` (module docstring); ``update_kind`` /
        ``bl``: how the layer's updates reach its devices (:data:`UPDATE_KINDS`, None: digital);
        ``read_integration``: the periphery's read window in card windows (the cost model prices
        each read's window-bound terms by it; 1: digital, and records from before the key)."""
        c = self.counts()
        return {"name": name, "analog": self.analog, "kind": self.kind, "rows": self.rows, "cols": self.cols,
                "tile_rows": list(self.tile_rows), "tile_cols": list(self.tile_cols),
                "cells_per_weight": int(cells_per_weight), "dac_bits": dac_bits, "adc_bits": adc_bits,
                "g_mean_us": g_mean_us, "update_kind": update_kind, "bl": bl,
                "read_integration": float(read_integration), "phases": c["phases"],
                "readouts": c["readouts"], "update": c["update"]}

    def counts(self) -> dict:
        """``{"phases": {phase: {kind: {field: int}}}, "readouts": {phase: int}, "update": {field:
        int}}`` (phases with any count only); one host read of the device counts."""
        dev = torch.cat([self.bm.reshape(-1), self.upd, self.traced.reshape(-1), self.traced_corr.reshape(1)])
        dev = dev.cpu().tolist()
        n_bm, n_upd = self.bm.numel(), self.upd.numel()
        bm, upd = dev[:n_bm], dev[n_bm:n_bm + n_upd]
        traced, traced_corr = dev[n_bm + n_upd:-1], int(dev[-1])
        phases = {}
        macs_at = READ_FIELDS.index("macs")
        for p, name in enumerate(PHASES):
            kinds = {}
            for k, kind in enumerate(READ_KINDS):
                t = 2 * (p * len(READ_KINDS) + k)
                vectors, extra = self.host[p][k]
                vectors += int(traced[t])
                vals = [vectors * v for v in self._profile[k]]
                vals[macs_at] += extra + int(traced[t + 1])
                vals[_BM] = int(bm[p * len(READ_KINDS) + k])
                kinds[kind] = dict(zip(READ_FIELDS, vals))
            if any(v for d in kinds.values() for v in d.values()):
                phases[name] = kinds
        update = {"updates": self.updates, "macs": self.update_macs + traced_corr * self.rows * self.cols}
        update.update({f: int(v) for f, v in zip(_DEVICE_UPDATE, upd)})
        readouts = {name: n for name, n in zip(PHASES, self.readouts) if n}
        return {"phases": phases, "readouts": readouts, "update": {f: update[f] for f in UPDATE_FIELDS}}

    # ------------------------------------------------------------------ data parallel
    def _summable(self) -> torch.Tensor:
        """The counts that add up over data-parallel shards: the reads (host), the correlations'
        MACs and the bound-management re-reads, as one int64 tensor on the counters' device."""
        host = [v for p in self.host for k in p for v in k] + [self.update_macs] + list(self.readouts)
        return torch.cat([torch.tensor(host, dtype=torch.int64, device=self.bm.device), self.bm.reshape(-1),
                          self.traced.reshape(-1), self.traced_corr.reshape(1)])

    def _set_summable(self, flat: torch.Tensor) -> None:
        n_host = len(PHASES) * len(READ_KINDS) * 2
        n_all = n_host + 1 + len(PHASES)
        vals = flat[:n_all].cpu().tolist()
        it = iter(vals[:n_host])
        self.host = [[[int(next(it)) for _ in range(2)] for _ in READ_KINDS] for _ in PHASES]
        self.update_macs = int(vals[n_host])
        self.readouts = [int(v) for v in vals[n_host + 1:n_all]]
        rest = flat[n_all:]
        self.bm.copy_(rest[:self.bm.numel()].view_as(self.bm))
        rest = rest[self.bm.numel():]
        self.traced.copy_(rest[:self.traced.numel()].view_as(self.traced))
        self.traced_corr.copy_(rest[-1])

    @torch.no_grad()
    def sum_over_ranks(self, all_reduce_) -> None:
        """Data parallel: every rank reads (and correlates) its own shard of each batch;
        ``all_reduce_`` (a sum over the ranks, in place) adds up every rank's increments since the
        last call, so every replica then holds the whole chip's counts (and the replicas agree
        again). ``updates`` and the pulse counts are the same on every rank (each applies the one
        global update) and are not summed."""
        now = self._summable()
        last = self._summed if self._summed is not None else torch.zeros_like(now)
        inc = [now - last]
        all_reduce_(inc)
        total = last + inc[0].to(torch.int64)
        self._set_summable(total)
        self._summed = total

    # ------------------------------------------------------------------ state
    def get_extra_state(self) -> dict:
        return {"host": copy.deepcopy(self.host), "updates": self.updates, "update_macs": self.update_macs,
                "readouts": list(self.readouts)}

    def set_extra_state(self, state: dict) -> None:
        self.host = copy.deepcopy(state["host"])
        self.updates, self.update_macs = int(state["updates"]), int(state["update_macs"])
        # a checkpoint from before the settle read-outs has none
        self.readouts = [int(v) for v in state.get("readouts", [0] * len(PHASES))]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """A checkpoint from before the event counters has none: zero counts."""
        for name, buf in (("bm", self.bm), ("upd", self.upd), ("traced", self.traced),
                          ("traced_corr", self.traced_corr)):
            if prefix + name not in state_dict:
                state_dict[prefix + name] = torch.zeros_like(buf)
        if prefix + "_extra_state" not in state_dict:
            state_dict[prefix + "_extra_state"] = {"host": self._zero_host(), "updates": 0, "update_macs": 0}
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._summed = self._summable()  # a checkpoint's counts are already global sums

    def extra_repr(self) -> str:
        return (f"{self.kind} {self.rows}x{self.cols}, tiles {self.tile_rows}x{self.tile_cols}, "
                f"analog={self.analog}, enabled={self.enabled}")


def dense_geometry(weight_shape) -> tuple[str, int, int]:
    """``(kind, rows, cols)`` of a weight: dense (out, in) -> rows in, cols out; conv (C_out,
    C_in, kh, kw) -> rows C_in kh kw, cols C_out."""
    kind = "conv" if len(weight_shape) == 4 else "dense"
    return kind, int(math.prod(weight_shape[1:])), int(weight_shape[0])


def digital_counter(weight: torch.Tensor) -> EventCounter:
    """The counter of a digital weight (one block each way: ``[rows]``, ``[cols]``)."""
    kind, rows, cols = dense_geometry(weight.shape)
    return EventCounter(kind, rows, cols, [rows], [cols], analog=False, device=weight.device)


class PhaseCounter(nn.Module):
    """The model's per-phase relaxation counts (host ints, saved as extra state): per phase
    ``samples`` (samples that went through it), ``sweeps`` (solver sweeps summed over its
    relaxations), ``neuron_updates`` (node state updates: sweeps x batch x neurons per sweep;
    a forward pass without relaxation updates every node once; a settle phase's one read-out per
    node) and ``settle_samples`` (samples that went through a settle relaxation), and the settled
    time (``settle_s`` buffer, float64 on the model's device: per phase the settle times of its
    settled samples summed, seconds; added on the device, read at log time) and the settle
    neurons' time constant (``settle_tau_s``, host, per phase: the last settle's; the cost model
    prices the neurons per time constant). ``phase`` is the current phase."""

    def __init__(self):
        super().__init__()
        self.enabled = True
        self.phase = "inference"
        self.table: dict[str, list[int]] = {}
        self._summed: dict | None = None
        self.register_buffer("settle_s", torch.zeros(len(PHASES), dtype=torch.float64))
        self._settle_summed: torch.Tensor | None = None
        self.settle_tau: dict[str, float] = {}

    def set_phase(self, name: str) -> None:
        phase_index(name)
        self.phase = name

    def _row(self) -> list[int]:
        row = self.table.setdefault(self.phase, [0] * len(PHASE_FIELDS))
        row.extend([0] * (len(PHASE_FIELDS) - len(row)))
        return row

    def add(self, samples: int, sweeps: int, neuron_updates: int) -> None:
        if not self.enabled:
            return
        row = self._row()
        row[0] += int(samples)
        row[1] += int(sweeps)
        row[2] += int(neuron_updates)

    def add_settle(self, samples: int, settle_time_s: torch.Tensor, tau_s: float | None = None) -> None:
        """``samples`` samples settled in the current phase, each for ``settle_time_s`` seconds (a
        per-sample device tensor; summed on the device, no host sync), by neurons of time constant
        ``tau_s`` seconds (a host float; None: not known)."""
        if not self.enabled:
            return
        self._row()[3] += int(samples)
        if tau_s is not None:
            self.settle_tau[self.phase] = float(tau_s)
        i = phase_index(self.phase)
        self.settle_s[i] += settle_time_s.detach().sum().to(self.settle_s)

    def counts(self) -> dict:
        """``{phase: {field: n}}`` (:data:`PHASE_FIELDS` and ``settle_time_s``, and
        ``settle_tau_s`` where the phase settled with a known time constant); one host read of the
        settled time."""
        times = self.settle_s.cpu().tolist()
        out = {}
        for i, p in enumerate(PHASES):
            if p in self.table:
                row = list(self.table[p]) + [0] * (len(PHASE_FIELDS) - len(self.table[p]))
                out[p] = {**dict(zip(PHASE_FIELDS, row)), "settle_time_s": float(times[i])}
                if p in self.settle_tau:
                    out[p]["settle_tau_s"] = self.settle_tau[p]
        return out

    @torch.no_grad()
    def sum_over_ranks(self, all_reduce_, rank: int, world: int, device) -> None:
        """Data parallel: ``samples``, ``neuron_updates``, ``settle_samples`` and the settled time
        summed over the ranks' increments since the last call; ``sweeps`` (the ranks relax their
        shards side by side) the largest rank's increment. Two all-reduces (sums: each rank fills
        its own row of a (world, n) table; the settled time's increments)."""
        n = len(PHASE_FIELDS)
        zero = [0] * n
        last = self._summed or {}

        def full(row):
            return list(row) + [0] * (n - len(row))

        inc = [[a - b for a, b in zip(full(self.table.get(p, zero)), full(last.get(p, zero)))] for p in PHASES]
        flat = torch.tensor([v for row in inc for v in row], dtype=torch.int64, device=device)
        table = torch.zeros(world, flat.numel(), dtype=torch.int64, device=device)
        table[rank] = flat
        red = [table]
        all_reduce_(red)
        every = red[0].to(torch.int64).cpu().view(world, len(PHASES), n)
        out = {}
        for i, p in enumerate(PHASES):
            base = full(last.get(p, zero))
            s = every[:, i].sum(0).tolist()
            m = every[:, i].amax(0).tolist()
            row = [base[0] + s[0], base[1] + m[1], base[2] + s[2], base[3] + s[3]]
            if any(row) or p in self.table:
                out[p] = [int(v) for v in row]
        self.table = out
        self._summed = copy.deepcopy(out)
        t_last = self._settle_summed if self._settle_summed is not None else torch.zeros_like(self.settle_s)
        t_inc = [(self.settle_s - t_last).to(device)]
        all_reduce_(t_inc)
        self.settle_s.copy_(t_last + t_inc[0].to(self.settle_s))
        self._settle_summed = self.settle_s.clone()

    def get_extra_state(self) -> dict:
        return {"table": copy.deepcopy(self.table), "settle_tau": dict(self.settle_tau)}

    def set_extra_state(self, state: dict) -> None:
        self.table = {p: [int(v) for v in row] for p, row in state.get("table", {}).items()}
        self.settle_tau = {p: float(v) for p, v in state.get("settle_tau", {}).items()}  # none before session 15

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """A checkpoint from before the phase counts (or the settled time): none counted."""
        if prefix + "_extra_state" not in state_dict:
            state_dict[prefix + "_extra_state"] = {"table": {}}
        if prefix + "settle_s" not in state_dict:
            state_dict[prefix + "settle_s"] = torch.zeros_like(self.settle_s)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._summed = copy.deepcopy(self.table)
        self._settle_summed = self.settle_s.clone()  # a checkpoint's counts are already global sums


STATE_KEYS = frozenset({"name", "analog", "kind", "rows", "cols", "tile_rows", "tile_cols", "cells_per_weight",
                        "dac_bits", "adc_bits", "g_mean_us", "update_kind", "bl", "read_integration",
                        "settle_tau_s"})
"""Keys of a record that describe a layer (or a phase's settle neurons: ``settle_tau_s``) rather
than count events: :func:`diff_counts` and :func:`sum_counts` take them from the later (the first)
record."""


def diff_counts(a: dict, b: dict) -> dict:
    """``b - a``, field by field, of two :meth:`model.event_counts` records taken in that order
    (an epoch's or a step's counts): counts subtract (a phase or field missing from ``a`` counts
    as zero there); the layer descriptions (:data:`STATE_KEYS`) are ``b``'s."""
    return _combine(a, b, lambda x, y: y - x, later=True)


def sum_counts(records: list[dict]) -> dict:
    """The field-by-field sum of records of one model (several steps' or epochs' counts); the
    layer descriptions are the last record's."""
    out = records[0]
    for r in records[1:]:
        out = _combine(out, r, lambda x, y: x + y, later=True)
    return out


def _combine(a, b, op, later: bool, key: str | None = None):
    if key in STATE_KEYS:
        return b if b is not None else a
    if isinstance(a, dict) or isinstance(b, dict):
        a, b = a or {}, b or {}
        return {k: _combine(a.get(k), b.get(k), op, later, k) for k in {**a, **b}}
    if isinstance(a, list) or isinstance(b, list):
        a, b = a or [], b or []
        if len(a) != len(b):
            raise ValueError(f"event records of different models: {len(a)} vs {len(b)} layers")
        return [_combine(x, y, op, later) for x, y in zip(a, b)]
    return op(a or 0, b or 0)


__all__ = ["PHASES", "READ_KINDS", "READ_FIELDS", "UPDATE_FIELDS", "PHASE_FIELDS", "UPDATE_KINDS", "EventCounter",
           "PhaseCounter", "update_kind",
           "STATE_KEYS", "diff_counts", "sum_counts", "read_profile", "row_pulse_stats", "phase_index", "digital_counter",
           "dense_geometry"]
