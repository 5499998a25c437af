"""``analog.read_integration`` m: a read integrates the column currents over m card read windows
before its one ADC conversion. The output noise of every discrete read falls to
``out_noise_std / sqrt(m)`` (one place: ``PeripheryParams.read_noise_std``), measured on torch and
numba reads (dense and conv, through the storage); m 1 is today's read bit for bit; the noise-floor
threshold follows; the cost model prices the read window m times (array, held DAC drive, latency)
and the ADC once (closed forms at m 4); bad values are one-line config errors (exit 2)."""

import copy
import dataclasses
import json
import math

import pytest
import torch
import yaml
from typer.testing import CliRunner

from analog_ep.analog import kernels as K
from analog_ep.analog import reads as R
from analog_ep.analog.cards import effective_periphery, load_device
from analog_ep.analog.periphery import PeripheryParams
from analog_ep.cli import app
from analog_ep.config import load_config
from analog_ep.config.schema import ChipConfig
from analog_ep.errors import ConfigError
from analog_ep.hardware import adc_energy_j, adc_time_s, price
from analog_ep.solvers.base import floor_threshold
from analog_ep.train.build import resolve_device
from analog_ep.train.checkpoint import load_checkpoint, save_checkpoint
from analog_ep.train.loop import make_trainer
from conftest import kernels_mode

CARD_NOISE = 0.2


class Keyed:
    """An output-noise draw as the storage makes one (torch normals from a seeded generator) with
    the stream key the numba kernels draw their own noise from."""

    def __init__(self, key, rows=None):
        self.key, self.rows = key, rows

    def __call__(self, shape, bm_pass=0):
        g = torch.Generator().manual_seed(self.key + bm_pass)
        return torch.randn(tuple(shape), generator=g)


def _std_ok(e: torch.Tensor, want: float) -> bool:
    """The sample std of ``e`` equals ``want`` within 4 standard errors (Gaussian)."""
    return abs(float(e.std()) / want - 1) < 4 * math.sqrt(0.5 / e.numel())


def test_read_noise_std_is_the_cards_over_sqrt_m():
    p = PeripheryParams(out_noise_std=0.06)
    assert p.read_integration == 1.0 and p.read_noise_std == 0.06          # exactly the card's
    for m, want in ((4, 0.03), (16, 0.015), (64, 0.0075), (2.5, 0.06 / math.sqrt(2.5))):
        assert dataclasses.replace(p, read_integration=m).read_noise_std == pytest.approx(want, rel=1e-15)
    assert PeripheryParams(out_noise_std=0.0, read_integration=16).read_noise_std == 0.0


@pytest.mark.parametrize("m", [4, 16])
def test_dense_read_noise_falls_by_sqrt_m_torch_and_numba(m):
    """Output noise only (no ADC, wide bound): a dense forward read's noise (noisy minus noiseless)
    over 3 row blocks has std ``card / sqrt(m) * w_scale * sqrt(3)``, not the card's: torch read and
    numba kernel; the transposed read likewise (5 column blocks)."""
    pytest.importorskip("numba")
    from analog_ep.analog.kernels import numba_reads as nr
    g = torch.Generator().manual_seed(0)
    x, w = torch.rand(64, 40, generator=g) - 0.5, torch.randn(300, 40, generator=g) * 0.3
    ws = 0.8
    quiet = PeripheryParams(inp_bits=7, inp_bound=1.0, out_bound=100.0)
    loud = dataclasses.replace(quiet, out_noise_std=CARD_NOISE, read_integration=m)
    want = CARD_NOISE / math.sqrt(m) * ws * math.sqrt(3)
    with kernels_mode("torch"):
        base = R.dense_read(x, w, quiet, 16, ws, 1.0)
        for read in (lambda k: nr.dense_forward(x, w, loud, 16, ws, 1.0, Keyed(k)),
                     lambda k: R.dense_read(x, w, loud, 16, ws, 1.0, Keyed(k))):
            e = read(7) - base
            assert _std_ok(e, want)
            assert not _std_ok(e, want * math.sqrt(m))           # the card's own std is far off
        y = x[:, :30]
        base_t = R.dense_read_t(y, w[:30], quiet, 7, ws, 1.0)
        for read in (lambda k: nr.dense_transposed(y, w[:30], loud, 7, ws, 1.0, Keyed(k)),
                     lambda k: R.dense_read_t(y, w[:30], loud, 7, ws, 1.0, Keyed(k))):
            assert _std_ok(read(3) - base_t, CARD_NOISE / math.sqrt(m) * ws * math.sqrt(5))


@pytest.mark.parametrize("m", [4, 16])
def test_conv_read_noise_falls_by_sqrt_m_torch_and_numba(m):
    pytest.importorskip("numba")
    from analog_ep.analog.kernels import numba_reads as nr
    g = torch.Generator().manual_seed(5)
    x = torch.rand((8, 4, 8, 8), generator=g)
    w = torch.randn((6, 4, 3, 3), generator=g) * 0.2
    p0 = PeripheryParams(out_bound=50.0)
    p1 = dataclasses.replace(p0, out_noise_std=CARD_NOISE, read_integration=m)
    want = CARD_NOISE / math.sqrt(m) * math.sqrt(2)                       # 2 channel blocks of 18 rows
    with kernels_mode("torch"):
        base = R.conv_read(x, w, 1, 1, p0, 18, 1.0, 1.0)
        assert _std_ok(nr.conv_forward(x, w, 1, 1, p1, 18, 1.0, 1.0, Keyed(11)) - base, want)
        assert _std_ok(R.conv_read(x, w, 1, 1, p1, 18, 1.0, 1.0, Keyed(11)) - base, want)


@pytest.mark.parametrize("mode", ["torch", "numba"])
def test_storage_read_noise_falls_by_sqrt_m(mode):
    """Through the storage (its own seeded noise stream, the path training takes): the forward
    read's noise at m 4 and 16 is the card's / 2 and / 4."""
    if mode == "numba":
        pytest.importorskip("numba")
    from analog_ep.analog.rules import SoftBounds
    from analog_ep.analog.storage import AnalogStorage
    w = torch.randn((200, 40), generator=torch.Generator().manual_seed(3)) * 0.2
    x = torch.rand(128, 40, generator=torch.Generator().manual_seed(1)) - 0.5
    quiet = PeripheryParams(inp_bits=7, inp_bound=1.0, out_bound=100.0)
    with kernels_mode(mode), torch.no_grad():
        base = AnalogStorage(w, SoftBounds(), quiet, max_rows=16, max_cols=512, seed=3)
        y0 = base.linear(x)
        for m, div in ((4, 2.0), (16, 4.0)):
            p = dataclasses.replace(quiet, out_noise_std=CARD_NOISE, read_integration=m)
            st = AnalogStorage(w, SoftBounds(), p, max_rows=16, max_cols=512, seed=3)
            K.reset_ran()
            e = st.linear(x) - y0
            assert K.ran()["dense_forward"] == mode
            assert _std_ok(e, CARD_NOISE / div * st.w_scale * math.sqrt(3))     # 40 rows: 3 row blocks
            assert not _std_ok(e, CARD_NOISE * st.w_scale * math.sqrt(3))


def _step_cfg(*extra):
    return load_config(None, ["data.name=digits", "data.batch_size=8", "data.train_size=16", "data.test_size=8",
                              "model.hidden=[12]", "solver.free_iters=6", "solver.nudge_iters=3",
                              "analog.device=memristor", "analog.max_rows=40", "analog.max_cols=8",
                              "compute.accelerator=cpu", "compute.kernels=torch", *extra])


def _trained_weights(cfg):
    torch.manual_seed(0)
    tr = make_trainer(cfg, None)
    x, y = next(iter(tr.batches(tr.train_set, None)))
    tr.train_step(x, y)
    return [s.storage.effective_weight().clone() for s in tr.model.all_synapses()], tr


def test_m1_is_todays_read_bit_for_bit_and_m4_is_a_quarter_noise_variance():
    """An EP step on the memristor card (noisy reads, the noise-floor stop) with
    ``analog.read_integration=1`` leaves the weights a run without the key leaves, bit for bit;
    m 4 on the card equals the card with ``out_noise_std`` halved (0.06 -> 0.03, both exact in
    binary), bit for bit: read integration changes the output noise and nothing else in a read;
    and it does change the step."""
    w_none, tr = _trained_weights(_step_cfg())
    assert all(s.storage.periph.read_integration == 1.0 for s in tr.model.all_synapses())
    w_one, _ = _trained_weights(_step_cfg("analog.read_integration=1"))
    assert all(torch.equal(a, b) for a, b in zip(w_none, w_one))
    w_m4, tr4 = _trained_weights(_step_cfg("analog.read_integration=4"))
    w_half, _ = _trained_weights(_step_cfg("analog.out_noise_std=0.03"))
    assert all(torch.equal(a, b) for a, b in zip(w_m4, w_half))
    assert not all(torch.equal(a, b) for a, b in zip(w_m4, w_none))
    assert [s.storage.periph.read_noise_std for s in tr4.model.all_synapses()] == [0.03, 0.03]


def _floor_trainer(*extra):
    cfg = load_config(None, ["data.name=digits", "data.batch_size=8", "data.train_size=16", "data.test_size=8",
                             "model.hidden=[24]", "analog.device=memristor", "analog.max_rows=16",
                             "compute.accelerator=cpu", "compute.kernels=torch", *extra])
    return make_trainer(cfg, None)


def test_noise_floor_threshold_scales_by_one_over_sqrt_m():
    """Without an ADC (its rounding adds a floor of its own; a card field, set on the storages)
    the read floors and the sweep's per-sample threshold at m 16 are those at m 1 divided by 4;
    with the card's 9-bit ADC a read floor is the closed form
    ``w_scale sqrt(T (0.06^2 / m + step^2 / 12))``."""
    thresholds, syns = [], []
    g = torch.Generator().manual_seed(1)
    h, y = torch.rand(6, 24, generator=g), torch.rand(6, 10, generator=g) * 2 - 0.5
    for extra in ((), ("analog.read_integration=16",)):
        model = _floor_trainer(*extra).model
        for st in (s.storage for s in model.all_synapses()):
            st.periph = dataclasses.replace(st.periph, out_bits=None, out_bound=None)
        syns.append(list(model.all_synapses())[1])
        thresholds.append(floor_threshold(model.read_floors(0.5), 2.5, "flat")([h, y]))
    for kind in ("forward", "transposed"):
        assert syns[1].read_floor(kind)[0] == pytest.approx(syns[0].read_floor(kind)[0] / 4, rel=1e-12)
    assert torch.allclose(thresholds[1], thresholds[0] / 4, rtol=1e-6)
    assert not torch.allclose(thresholds[1], thresholds[0], rtol=0.5)
    syn = list(_floor_trainer("analog.read_integration=4").model.all_synapses())[1]
    step = 12.0 / 255
    c, _ = syn.read_floor("forward")                                          # 24 lines: 2 tiles of 16
    assert c == pytest.approx(syn.storage.w_scale * math.sqrt(2 * (0.06 ** 2 / 4 + step * step / 12)), rel=1e-12)


# ---------------------------------------------------------------------------------- the cost model
def _record(m=None):
    """One analog layer, 300 x 40 on 2 x 2 tiles, 7 forward and 5 transposed vector reads in the
    free phase (closed-form counts of full tiled reads, as ``test_hardware_cost.py``)."""
    rows, cols, tr, tc = 300, 40, [256, 44], [32, 8]
    n_rb, n_cb = 2, 2

    def counts(vec, forward):
        driven = vec * (rows * n_cb if forward else cols * n_rb)
        return {"vector_reads": vec, "rows_driven": driven, "dac_conversions": driven,
                "cell_reads": vec * rows * cols, "adc_conversions": vec * (cols * n_rb if forward else rows * n_cb),
                "partial_adds": vec * ((n_rb - 1) * cols if forward else (n_cb - 1) * rows), "bm_rereads": 0,
                "macs": vec * rows * cols}
    layer = {"name": "L", "analog": True, "kind": "dense", "rows": rows, "cols": cols, "tile_rows": tr,
             "tile_cols": tc, "cells_per_weight": 2, "dac_bits": 6, "adc_bits": 7, "g_mean_us": 12.0,
             "phases": {"free": {"forward": counts(7, True), "transposed": counts(5, False)}}, "update": {}}
    if m is not None:
        layer["read_integration"] = m
    return {"layers": [layer], "phases": {"free": {"samples": 7, "sweeps": 3, "neuron_updates": 210}}}


def test_cost_prices_the_read_window_m_times_and_the_adc_once():
    """At m 4: array energy ``cell_reads c B a V^2 G (4 t_read)``, drivers ``dac_conversions B
    E_driver zeta`` (per drive, hardware_costs.md §2.4), latency per vector read ``B (4 t_read + 4 t_conv) beta + adder``; the ADC
    and digital terms are m 1's. A record without the key prices as m 1."""
    c = ChipConfig(v_read=0.3, t_read_s=2e-8, input_activity=0.25, e_driver_j=0.1e-12, calib_energy=1.5,
                   calib_latency=1.4, cols_per_adc=4, digital_lanes=16)
    card = load_device("memristor")
    r1, r4, r_old = price(_record(1.0), c, card), price(_record(4.0), c, card), price(_record(), c, card)
    assert r_old.energy_j == r1.energy_j and r_old.latency_s == r1.latency_s
    rec = _record(4.0)
    fwd, trn = (rec["layers"][0]["phases"]["free"][k] for k in ("forward", "transposed"))
    B, a, zeta, m = 6, 0.25, 1.5, 4
    e4, e1 = r4.energy_j["free"], r1.energy_j["free"]
    assert e4["array"] == pytest.approx((fwd["cell_reads"] + trn["cell_reads"]) * 2 * B * a * 0.3 ** 2 * 12e-6
                                        * (m * 2e-8), rel=1e-12)
    assert e4["drivers"] == pytest.approx((fwd["dac_conversions"] + trn["dac_conversions"]) * B * 0.1e-12
                                          * zeta, rel=1e-12)   # per drive (§2.4): not m
    assert e4["adc"] == pytest.approx((fwd["adc_conversions"] + trn["adc_conversions"]) * B * adc_energy_j(c, 7)
                                      * zeta, rel=1e-12)
    assert e4["adc"] == e1["adc"] and e4["digital"] == e1["digital"] and e4["drivers"] == e1["drivers"]
    assert e4["array"] == pytest.approx(4 * e1["array"], rel=1e-12)
    t_conv = adc_time_s(c, 7)
    per_read = B * (m * 2e-8 + 4 * t_conv) * 1.4 + 1 / 1e9           # 4 lines per ADC; one adder level
    assert r4.latency_s["free"] == pytest.approx((7 + 5) * per_read + 210 / (16 * 1e9), rel=1e-12)
    assert r4.latency_s["free"] > r1.latency_s["free"]
    assert e4["leakage"] == pytest.approx(1e-6 * 4 * r4.latency_s["free"], rel=1e-12)


def test_event_record_carries_the_periphery_m():
    tr = _floor_trainer("analog.read_integration=16")
    rec = tr.model.event_counts()
    assert [layer["read_integration"] for layer in rec["layers"]] == [16.0, 16.0]
    assert [layer["read_integration"] for layer in _floor_trainer().model.event_counts()["layers"]] == [1.0, 1.0]


# ---------------------------------------------------------------------------------- bad input, resume
@pytest.mark.parametrize("value, says", [("0.5", "must be a number >= 1"), ("0", "must be a number >= 1"),
                                         ("abc", "expected float"), ("nan", "expected float")])
def test_bad_read_integration_is_one_line_exit_2(value, says, tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["train", "--device", "memristor", "--set", f"analog.read_integration={value}",
                                   "--set", "data.name=digits", "--out", str(out), "--json"])
    assert res.exit_code == 2
    err = json.loads(res.stdout.strip().splitlines()[-1])["error"]
    assert err.startswith("analog.read_integration:") and says in err and "\n" not in err
    assert "Traceback" not in res.output
    assert not out.exists()  # refused before anything is written


def test_stored_run_without_the_key_resumes_with_m_1(tmp_path):
    """README: stored runs from before the key resume with 1. A run's checkpoint with the key
    stripped from its stored config and its stored card resumes to bit-identical weights."""
    tiny = ["--device", "memristor", "--set", "data.name=digits", "--set", "model.hidden=[8]", "--set",
            "data.batch_size=16", "--set", "data.train_size=32", "--set", "data.test_size=16", "--set", "seed=5",
            "--set", "solver.free_iters=8", "--set", "solver.nudge_iters=4"]
    now, old = tmp_path / "now", tmp_path / "old"
    res = CliRunner().invoke(app, ["train", *tiny, "--set", "train.epochs=1", "--out", str(now), "--json"])
    assert res.exit_code == 0, res.output
    ckpt = load_checkpoint(now / "checkpoint.pt")
    cfg = yaml.safe_load(ckpt["config_yaml"])
    assert "read_integration" in cfg["analog"] and "read_integration" in ckpt["device"]["card"]["periphery"]
    del cfg["analog"]["read_integration"]
    dev = copy.deepcopy(ckpt["device"])
    del dev["card"]["periphery"]["read_integration"]
    old.mkdir()
    save_checkpoint(old / "checkpoint.pt", {**ckpt, "config_yaml": yaml.safe_dump(cfg), "device": dev})
    for run in (now, old):
        res = CliRunner().invoke(app, ["train", "--resume", str(run), "--set", "train.epochs=2", "--json"])
        assert res.exit_code == 0, res.output
    a, b = (load_checkpoint(r / "checkpoint.pt") for r in (now, old))
    assert a["epoch"] == b["epoch"] == 2 and a["model"].keys() == b["model"].keys()

    def same(u, v):
        if isinstance(u, torch.Tensor):
            return torch.equal(u, v)
        if isinstance(u, dict):
            return u.keys() == v.keys() and all(same(u[k], v[k]) for k in u)
        return u == v

    for k in a["model"]:
        assert same(a["model"][k], b["model"][k]), k
    assert not same(a["model"], ckpt["model"])  # epoch 2 trained


def test_settle_refuses_m_other_than_1(tmp_path):
    # refused on the effective periphery: the shortcut, the card override and a card file's periphery:
    settle = ["analog.device=memristor", "analog.relaxation=settle"]
    for extra in (["analog.read_integration=4"], ["device.periphery.read_integration=4"]):
        with pytest.raises(ConfigError, match=r"analog.read_integration: widens a discrete read's window"):
            resolve_device(load_config(None, settle + extra))
    for m in (1, 4):  # m 1 with a settle, m 4 with an iterative relaxation: accepted
        resolve_device(load_config(None, settle[:1] + [f"device.periphery.read_integration={m}"]))
    resolve_device(load_config(None, settle + ["analog.read_integration=1"]))
    card = yaml.safe_load(open(load_device("memristor").path))
    card.setdefault("periphery", {})["read_integration"] = 4
    path = tmp_path / "wide_reads.yaml"
    path.write_text(yaml.safe_dump(card))
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["train", "--set", f"analog.device={path}", "--set", "analog.relaxation=settle",
                                   "--set", "data.name=digits", "--set", "model.hidden=[8]", "--set", "data.train_size=32", "--set",
                                   "data.test_size=16", "--set", "train.epochs=1", "--out", str(out)])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.stderr.strip().splitlines() if ln]
    assert len(lines) == 1 and "analog.read_integration" in lines[0] and "analog.relaxation" in lines[0], res.stderr
    assert "Traceback" not in res.output
    assert not out.exists()


def test_periphery_and_card_key_checked():
    for bad in (0.99, -1.0, float("inf"), True, "4"):
        with pytest.raises(ConfigError, match="read_integration: must be a number >= 1"):
            PeripheryParams(read_integration=bad)
    cfg = load_config(None, ["analog.device=memristor"])
    card = load_device("memristor")
    assert effective_periphery(card, cfg.analog).read_integration == 1.0     # a config without the key: 1
    assert effective_periphery(card, dataclasses.replace(cfg.analog, read_integration=16.0)).read_noise_std == 0.015
