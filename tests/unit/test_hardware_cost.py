"""The cost model (analog_ep.hardware) against closed forms: NeuroSim's SAR energy and time by
bits, the write energy V^2 G t n, row-by-row and parallel write latency, the read energy and
latency of a phase, how cost scales with counts and ADC bits, unknown write physics (None and a
warning, never 0), area and the GPU estimate. Records are built by hand in issue 19's event-count
layout (closed-form counts of full tiled reads)."""

import copy
import dataclasses
import json
import math
import warnings

import pytest

from analog_ep.analog.cards import WritePhysics, load_device, resolve_card
from analog_ep.config.schema import ChipConfig
from analog_ep.hardware import (COMPONENTS, WriteModel, adc_area_um2, adc_energy_j, adc_time_s, area, gpu_estimate,
                                price)
from analog_ep.hardware.adc import table_value

READ_KEYS = ("vector_reads", "rows_driven", "dac_conversions", "cell_reads", "adc_conversions", "partial_adds",
             "bm_rereads", "macs")


def read_counts(vec, rows, cols, tile_rows, tile_cols, kind, bm=0):
    """Closed-form counts of ``vec`` full reads of a rows x cols layer tiled tile_rows x tile_cols."""
    n_rb, n_cb = len(tile_rows), len(tile_cols)
    forward = kind == "forward"
    driven = vec * (sum(tile_rows) * n_cb if forward else sum(tile_cols) * n_rb)
    return {"vector_reads": vec, "rows_driven": driven, "dac_conversions": driven, "cell_reads": vec * rows * cols,
            "adc_conversions": vec * (cols * n_rb if forward else rows * n_cb),
            "partial_adds": vec * ((n_rb - 1) * cols if forward else (n_cb - 1) * rows), "bm_rereads": bm,
            "macs": vec * rows * cols}


def layer(name, rows, cols, tile_rows, tile_cols, phases, update=None, g=None, analog=True, dac=7, adc=9):
    """phases: {phase: {kind: vector_reads}}."""
    return {"name": name, "analog": analog, "kind": "dense", "rows": rows, "cols": cols,
            "tile_rows": tile_rows, "tile_cols": tile_cols, "cells_per_weight": 2 if analog else 1,
            "dac_bits": dac if analog else None, "adc_bits": adc if analog else None, "g_mean_us": g,
            "phases": {p: {k: read_counts(v, rows, cols, tile_rows, tile_cols, k) for k, v in kinds.items()}
                       for p, kinds in phases.items()},
            "update": dict(update or {})}


def update_counts(set_p=0, reset_p=0, row_slots=0, pulse_rounds=0, macs=0, updates=1):
    return {"updates": updates, "set_pulses": set_p, "reset_pulses": reset_p, "rows_written": 0,
            "row_slots": row_slots, "pulse_rounds": pulse_rounds, "macs": macs}


def ep_record(g1=20.0, g2=30.0, upd1=None, upd2=None, batch=8, free=20, nudge=5):
    """784-500-10 EP: free (W1 forward once: clamped input; W2 forward + W1 transposed... per sweep),
    nudge+, nudge-, inference."""
    sweeps = {"free": free, "nudge+": nudge, "nudge-": nudge, "inference": free}
    phases1 = {p: {"forward": batch, "transposed": batch * s} for p, s in sweeps.items()}
    phases2 = {p: {"forward": batch * s, "transposed": batch * s} for p, s in sweeps.items()}
    l1 = layer("W1", 784, 500, [512, 272], [500], phases1, upd1, g=g1)
    l2 = layer("W2", 500, 10, [500], [10], phases2, upd2, g=g2)
    return {"layers": [l1, l2],
            "phases": {p: {"samples": batch, "sweeps": s, "neuron_updates": s * batch * 510} for p, s in sweeps.items()}}


def chip(**kw):
    return ChipConfig(**kw)


# ------------------------------------------------------------------------------ ADC models


def test_neurosim_sar_energy_and_time_by_bits_reproduce_neurosim():
    c = chip(adc_model="neurosim_sar")
    for b in range(1, 13):
        # DNN_NeuroSim_V1.4 SarADC.cpp: P = (0.538 b + 4.375) uW over (log2 levels + 1) x 1 ns
        assert adc_time_s(c, b) == pytest.approx((b + 1) * 1e-9, rel=1e-14)
        assert adc_energy_j(c, b) == pytest.approx((0.538e-6 * b + 4.375e-6) * (b + 1) * 1e-9, rel=1e-14)
    # hardware_costs.md section 2.3: 33, 42, 53, 78 fJ at 4, 5, 6, 8 bits
    for b, fj in ((4, 33), (5, 42), (6, 53), (8, 78)):
        assert adc_energy_j(c, b) * 1e15 == pytest.approx(fj, abs=0.7)


def test_table_and_survey_models():
    c = chip()  # table: ISAAC-style SAR at 32 nm
    assert [adc_energy_j(c, b) for b in range(4, 9)] == pytest.approx([0.79e-12, 0.99e-12, 1.20e-12, 1.42e-12, 1.67e-12])
    assert adc_energy_j(c, 9) == pytest.approx(1.67e-12 * (1.67 / 1.42))            # geometric extrapolation
    assert adc_energy_j(c, 3) == pytest.approx(0.79e-12 * (0.79 / 0.99))
    assert table_value([4, 8], [1.0, 16.0], 6) == pytest.approx(4.0)               # geometric interpolation
    assert adc_area_um2(c, 5) == 477.0 and adc_area_um2(chip(adc_model="survey"), 5) == 477.0
    s = chip(adc_model="survey")
    assert adc_energy_j(s, 5) == pytest.approx(30e-15 * 2 ** 5)                    # Walden FOM
    assert adc_energy_j(s, 2) == pytest.approx(0.27e-12 + 0.145e-18 * 4 ** 2)      # the envelope floor
    assert adc_time_s(s, 6) == pytest.approx(7e-9)


@pytest.mark.parametrize("model", ["table", "neurosim_sar", "survey"])
def test_one_more_adc_bit_raises_adc_energy_as_the_model_says(model):
    card = load_device("memristor")
    rec = ep_record()
    for b in (5, 8):
        lo = price(rec, chip(adc_model=model, adc_bits=b), card)
        hi = price(rec, chip(adc_model=model, adc_bits=b + 1), card)
        ratio = adc_energy_j(chip(adc_model=model), b + 1) / adc_energy_j(chip(adc_model=model), b)
        assert ratio > 1
        for p in ("free", "nudge+", "inference"):
            assert hi.energy_j[p]["adc"] == pytest.approx(lo.energy_j[p]["adc"] * ratio, rel=1e-12)
            for comp in ("drivers", "array", "digital"):
                assert hi.energy_j[p][comp] == pytest.approx(lo.energy_j[p][comp], rel=1e-12)
            assert hi.latency_s[p] > lo.latency_s[p]  # (b + 2) ns conversions instead of (b + 1)
    assert adc_energy_j(chip(adc_model="survey"), 9) == pytest.approx(2 * adc_energy_j(chip(adc_model="survey"), 8))


# ------------------------------------------------------------------------------ reads


def test_read_energy_and_latency_of_one_phase_closed_form():
    rows, cols, tr, tc = 300, 40, [256, 44], [32, 8]
    vec_f, vec_t = 7, 5
    L = layer("L", rows, cols, tr, tc, {"free": {"forward": vec_f, "transposed": vec_t}}, g=12.0, dac=6, adc=7)
    rec = {"layers": [L], "phases": {"free": {"samples": 7, "sweeps": 3, "neuron_updates": 210}}}
    c = chip(v_read=0.3, t_read_s=2e-8, input_activity=0.25, e_driver_j=0.1e-12, calib_energy=1.5,
             calib_latency=1.4, cols_per_adc=4, digital_lanes=16)
    r = price(rec, c, load_device("memristor"))
    e = r.energy_j["free"]
    fwd, trn = L["phases"]["free"]["forward"], L["phases"]["free"]["transposed"]
    B, a, zeta = 6, 0.25, 1.5
    conv = adc_energy_j(c, 7)
    drivers = (fwd["dac_conversions"] + trn["dac_conversions"]) * B * 0.1e-12 * zeta
    array = (fwd["cell_reads"] + trn["cell_reads"]) * 2 * B * a * 0.3 ** 2 * 12e-6 * 2e-8
    adc = (fwd["adc_conversions"] + trn["adc_conversions"]) * B * conv * zeta
    e_neuron = (0.05e-12 + 1.0e-12 + 0.05e-12 + 2 * 16 * 0.02e-12) * zeta
    digital = ((fwd["partial_adds"] + trn["partial_adds"]) * 0.05e-12
               + (fwd["adc_conversions"] + trn["adc_conversions"]) * B * 0.021e-12) * zeta + 210 * e_neuron
    assert e["drivers"] == pytest.approx(drivers, rel=1e-12)
    assert e["array"] == pytest.approx(array, rel=1e-12)
    assert e["adc"] == pytest.approx(adc, rel=1e-12)
    assert e["digital"] == pytest.approx(digital, rel=1e-12)
    t_conv = 8e-9
    t_fwd = vec_f * (B * (2e-8 + 4 * t_conv) * 1.4 + 1 / 1e9)    # 4 lines per ADC; 2 row blocks: one adder level
    t_trn = vec_t * (B * (2e-8 + 4 * t_conv) * 1.4 + 1 / 1e9)    # 2 column blocks
    latency = t_fwd + t_trn + 210 / (16 * 1e9)
    assert r.latency_s["free"] == pytest.approx(latency, rel=1e-12)
    assert e["leakage"] == pytest.approx(1e-6 * len(tr) * len(tc) * latency, rel=1e-12)
    assert e["write"] == 0.0


def test_worked_example_of_hardware_costs_section_8_6():
    """One 128 x 128 tile read, 8-bit bit-serial inputs at 50% activity, V_r 0.2 V, G 5.3 uS,
    t_r 10 ns, 5-bit ADC at 0.99 pJ, 8 columns per ADC: cells 139 pJ, ADC 1014 pJ, drivers 51 pJ,
    shift-add 22 pJ, 1.23 nJ in all; 8 (10 ns + 8 x 6 ns) = 464 ns."""
    L = layer("T", 128, 128, [128], [128], {"inference": {"forward": 1}}, g=5.3, dac=8, adc=5)
    L["cells_per_weight"] = 1
    rec = {"layers": [L], "phases": {"inference": {"samples": 1, "sweeps": 1, "neuron_updates": 0}}}
    r = price(rec, chip(), load_device("memristor"))
    e = {k: v * 1e12 for k, v in r.energy_j["inference"].items()}
    assert e["array"] == pytest.approx(139, abs=0.5) and e["adc"] == pytest.approx(1014, abs=0.5)
    assert e["drivers"] == pytest.approx(51, abs=0.5) and e["digital"] == pytest.approx(22, abs=0.6)
    assert e["array"] + e["adc"] + e["drivers"] + e["digital"] == pytest.approx(1230, abs=5)
    assert r.latency_s["inference"] == pytest.approx(464e-9, rel=1e-12)


def test_doubling_every_count_of_a_phase_doubles_its_energy_and_latency():
    card = load_device("memristor")
    rec = ep_record()
    doubled = copy.deepcopy(rec)
    for L in doubled["layers"]:
        for kind in L["phases"]["nudge+"].values():
            for k in READ_KEYS:
                kind[k] *= 2
    doubled["phases"]["nudge+"]["sweeps"] *= 2
    doubled["phases"]["nudge+"]["neuron_updates"] *= 2
    a, b = price(rec, chip(), card), price(doubled, chip(), card)
    for comp in COMPONENTS:
        assert b.energy_j["nudge+"][comp] == pytest.approx(2 * a.energy_j["nudge+"][comp], rel=1e-12)
        assert b.energy_j["nudge-"][comp] == pytest.approx(a.energy_j["nudge-"][comp], rel=1e-12)
    assert b.latency_s["nudge+"] == pytest.approx(2 * a.latency_s["nudge+"], rel=1e-12)
    assert b.latency_s["free"] == a.latency_s["free"]


def test_array_term_uses_the_counted_mean_conductance_else_the_card_window():
    card = load_device("memristor")  # window 5-100 uS
    a = price(ep_record(g1=20.0, g2=30.0), chip(), card)
    b = price(ep_record(g1=40.0, g2=60.0), chip(), card)
    assert b.energy_j["free"]["array"] == pytest.approx(2 * a.energy_j["free"]["array"], rel=1e-12)
    assert b.energy_j["free"]["adc"] == a.energy_j["free"]["adc"]
    mid = price(ep_record(g1=None, g2=None), chip(), card)
    ref = price(ep_record(g1=52.5, g2=52.5), chip(), card)
    assert mid.energy_j["free"]["array"] == pytest.approx(ref.energy_j["free"]["array"], rel=1e-12)
    nocard = price(ep_record(g1=None, g2=None), chip(), None)
    assert nocard.energy_j["free"]["array"] is None and nocard.to_dict()["train"]["energy_j"] is None
    assert any("array energy unknown" in u for u in nocard.unknown)


def test_input_encoding_and_bound_management_rereads():
    card = load_device("memristor")
    rec = ep_record()
    serial = price(rec, chip(input_bits=8), card)
    amp = price(rec, chip(input_encoding="amplitude", input_bits=8), card)
    for comp in ("drivers", "array", "adc"):
        assert serial.energy_j["free"][comp] == pytest.approx(8 * amp.energy_j["free"][comp], rel=1e-12)
    assert price(rec, chip(input_activity=0.25), card).energy_j["free"]["array"] == pytest.approx(
        0.5 * price(rec, chip(), card).energy_j["free"]["array"], rel=1e-12)
    # the layer's DAC bits when chip.input_bits is null (7 on the records here)
    assert price(rec, chip(), card).energy_j["free"]["adc"] == pytest.approx(
        7 / 8 * serial.energy_j["free"]["adc"], rel=1e-12)
    bm = copy.deepcopy(rec)
    fwd = bm["layers"][1]["phases"]["free"]["forward"]
    fwd["bm_rereads"] = fwd["vector_reads"] // 2  # W2 has one tile: half as many extra tile reads
    one = copy.deepcopy(rec)
    one["layers"] = [rec["layers"][1]]
    one_bm = copy.deepcopy(bm)
    one_bm["layers"] = [bm["layers"][1]]
    for p in (one, one_bm):
        for ph in p["phases"].values():
            ph["neuron_updates"] = 0
    x, y = price(one, chip(), card), price(one_bm, chip(), card)
    f = fwd["vector_reads"]
    t_cycle = 1e-8 + 8 * adc_time_s(chip(), 9)  # 10 lines on 2 ADCs: 8 conversions in sequence
    assert y.latency_s["free"] - x.latency_s["free"] == pytest.approx(f // 2 * 7 * t_cycle, rel=1e-9)
    fwd_only = {k: v for k, v in one["layers"][0]["phases"]["free"].items() if k == "forward"}
    one_f = copy.deepcopy(one)
    one_f["layers"][0]["phases"] = {"free": fwd_only}
    z = price(one_f, chip(), card)
    assert y.energy_j["free"]["adc"] - x.energy_j["free"]["adc"] == pytest.approx(0.5 * z.energy_j["free"]["adc"],
                                                                                   rel=1e-12)


# ------------------------------------------------------------------------------ writes


def test_write_energy_is_v2_g_t_n_per_polarity():
    upd = update_counts(set_p=1000, reset_p=600, row_slots=300, macs=784 * 500)
    rec = ep_record(g1=20.0, upd1=upd)
    r = price(rec, chip(), load_device("neurosim"))  # 3.2 V / 300 us up, 2.8 V / 300 us down
    e = 1000 * 3.2 ** 2 * 20e-6 * 3e-4 + 600 * 2.8 ** 2 * 20e-6 * 3e-4
    assert r.energy_j["update"]["write"] == pytest.approx(e, rel=1e-12)
    assert r.energy_j["update"]["digital"] == pytest.approx(784 * 500 * (1.0e-12 + 0.05e-12), rel=1e-12)
    # without a counted conductance: the card's window midpoint (3.08 - 38.5 nS)
    rec = ep_record(g1=None, upd1=upd)
    g = 0.5 * (0.0030769 + 0.038462) * 1e-6
    r = price(rec, chip(), load_device("neurosim"))
    assert r.energy_j["update"]["write"] == pytest.approx((1000 * 3.2 ** 2 + 600 * 2.8 ** 2) * g * 3e-4, rel=1e-12)
    # a quoted energy per pulse is used as is, whatever the conductance (HZO FeFET: V^2 C_gate)
    r = price(ep_record(g1=1.0, upd1=upd), chip(), load_device("hzo_fefet"))
    assert r.energy_j["update"]["write"] == pytest.approx(1000 * 3.65 ** 2 * 2.1717e-18 + 600 * 2.95 ** 2 * 2.1717e-18,
                                                          rel=1e-4)


def test_row_by_row_and_parallel_write_latency():
    card = load_device("neurosim")  # 300 us both ways
    upd1 = update_counts(set_p=50, reset_p=50, row_slots=600, pulse_rounds=9, macs=0)
    upd2 = update_counts(set_p=5, reset_p=5, row_slots=90, pulse_rounds=20, macs=0)
    rec = ep_record(upd1=upd1, upd2=upd2)
    r = price(rec, chip(update_scheme="row_by_row"), card)
    # W1 has 2 tiles writing in parallel: 600 / 2 slots; W2 one tile: 90; the layers in parallel
    assert r.latency_s["update"] == pytest.approx(max(600 / 2, 90) * 3e-4, rel=1e-12)
    r = price(rec, chip(update_scheme="parallel"), card)
    assert r.latency_s["update"] == pytest.approx(max(9, 20) * 3e-4, rel=1e-12)
    # unequal widths: the pulse-weighted mean width (GST PCM: 6 us up, 125 ns down)
    r = price(ep_record(upd1=update_counts(set_p=30, reset_p=10, row_slots=8)), chip(), load_device("gst_pcm"))
    assert r.latency_s["update"] == pytest.approx(8 / 2 * (30 * 6e-6 + 10 * 1.25e-7) / 40, rel=1e-12)
    assert r.energy_j["update"]["leakage"] == pytest.approx(1e-6 * r.chip["arrays"] * r.latency_s["update"])


def test_no_pulses_write_nothing_and_unknown_physics_is_none_with_one_warning():
    zero = ep_record(upd1=update_counts(macs=100), upd2=update_counts(macs=10))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: nothing was written
        for card in (load_device("memristor"), load_device("reram_sb"), load_device("ideal"), None):
            r = price(zero, chip(), card)
            assert r.energy_j["update"]["write"] == 0.0 and r.latency_s["update"] == pytest.approx(110 / 128e9)
    pulsed = ep_record(upd1=update_counts(set_p=3, reset_p=4, row_slots=5, pulse_rounds=2))
    with pytest.warns(UserWarning) as rec:
        r = price(pulsed, chip(), load_device("reram_sb"))
    msgs = [str(w.message) for w in rec]
    assert len(msgs) == 1 and "device card reram_sb" in msgs[0] and "v_set (or e_set_j)" in msgs[0]
    assert "t_reset_s" in msgs[0] and "\n" not in msgs[0]
    assert r.energy_j["update"]["write"] is None and r.latency_s["update"] is None
    assert r.energy_j["update"]["leakage"] is None
    d = r.to_dict()
    assert d["train"]["energy_j"] is None and d["train"]["energy_per_sample_j"] is None
    assert d["by_component_j"]["write"] is None and d["by_component_j"]["adc"] > 0
    assert d["energy_j"]["free"]["total"] > 0 and msgs[0] in d["unknown"]
    # latency known, energy unknown (ecram: 10 ns pulses, no energy per pulse)
    with pytest.warns(UserWarning, match="device card ecram .*write energy is reported as unknown"):
        r = price(pulsed, chip(update_scheme="parallel"), load_device("ecram"))
    assert r.energy_j["update"]["write"] is None and r.latency_s["update"] == pytest.approx(2 * 1e-8)
    # a complete override makes it known
    card = resolve_card("reram_sb", {"write": {"v_set": 2.0, "v_reset": 2.0, "t_set_s": 1e-8, "t_reset_s": 1e-8}})
    r = price(pulsed, chip(), card)
    assert r.energy_j["update"]["write"] == pytest.approx(7 * 4 * 20e-6 * 1e-8)
    # the ideal device writes at no cost
    r = price(pulsed, chip(), load_device("ideal"))
    assert r.energy_j["update"]["write"] == 0.0


def test_write_model_from_physics():
    m = WriteModel("x", WritePhysics(v_set=2.0, t_set_s=1e-8, e_reset_j=5e-13, t_reset_s=2e-8), 1e-5)
    assert m.energy_j("set", 2e-5) == pytest.approx(4 * 2e-5 * 1e-8)
    assert m.energy_j("set", None) == pytest.approx(4 * 1e-5 * 1e-8)
    assert m.energy_j("reset", 2e-5) == 5e-13 and m.width_s("reset") == 2e-8


# ------------------------------------------------------------------------------ totals, area, GPU


def test_per_sample_and_per_epoch_totals_and_json():
    card = load_device("memristor")
    rec = ep_record(upd1=update_counts(set_p=10, reset_p=10, row_slots=4, macs=5))
    r = price(rec, chip(), card, epochs=2)
    d = json.loads(json.dumps(r.to_dict()))
    train = ["free", "nudge+", "nudge-", "update"]
    assert d["train"]["phases"] == train and d["train"]["samples"] == 8
    e = sum(d["energy_j"][p]["total"] for p in train)
    t = sum(d["latency_s"][p] for p in train)
    assert d["train"]["energy_j"] == pytest.approx(e) and d["train"]["energy_per_sample_j"] == pytest.approx(e / 8)
    assert d["train"]["latency_per_sample_s"] == pytest.approx(t / 8)
    assert d["train"]["energy_per_epoch_j"] == pytest.approx(e / 2)
    assert d["inference"]["energy_per_sample_j"] == pytest.approx(d["energy_j"]["inference"]["total"] / 8)
    assert d["by_component_j"]["adc"] == pytest.approx(sum(d["energy_j"][p]["adc"] for p in train))
    assert price(rec, chip(), card, samples=4).to_dict()["train"]["energy_per_sample_j"] == pytest.approx(e / 4)
    assert d["chip"]["adc_model"] == "table" and d["chip"]["card"] == "memristor"


def test_area_closed_forms():
    rec = ep_record()
    c = chip(tile_rows=128, tile_cols=128)
    a = area(rec, c)
    F2 = 0.056 ** 2
    # W1 784 x 500 on 7 x 4 arrays of 128 x 128, read forward and transposed
    w1 = a["layers"]["W1"]
    assert w1["arrays"] == 28
    assert w1["cells"] == pytest.approx(28 * 128 * 128 * 2 * 48 * F2)
    assert w1["adc"] == pytest.approx(28 * (16 + 16) * 1200.0 * (1200 / 845))  # 9 bits: extrapolated
    assert w1["drivers"] == pytest.approx(28 * 256 * 0.17)
    assert w1["digital"] == pytest.approx(28 * 32 * 60.0)
    assert w1["total"] == pytest.approx(w1["cells"] + w1["adc"] + w1["drivers"] + w1["digital"])
    # null tile sizes: the simulated tiles (W2: one 500 x 10 tile, ceil(500/8) + ceil(10/8) ADCs)
    w2 = area(rec, chip(adc_bits=5))["layers"]["W2"]
    assert w2["arrays"] == 1 and w2["cells"] == pytest.approx(500 * 10 * 2 * 48 * F2)
    assert w2["adc"] == pytest.approx((63 + 2) * 477.0)
    forward_only = copy.deepcopy(rec)
    for ph in forward_only["layers"][1]["phases"].values():
        ph["transposed"]["vector_reads"] = 0
    w2f = area(forward_only, chip(adc_bits=5))["layers"]["W2"]
    assert w2f["adc"] == pytest.approx(2 * 477.0) and w2f["drivers"] == pytest.approx(500 * 0.17)
    assert a["chip"]["total"] == pytest.approx(sum(v["total"] for v in a["layers"].values()))
    assert a["chip"]["arrays"] == 28 + 4 * 1


def test_gpu_estimate_closed_form_and_digital_records():
    dig = {"layers": [layer("W1", 784, 500, [784], [500], {"forward": {"forward": 64}, "backward": {"forward": 64}},
                            update_counts(macs=64 * 784 * 500), analog=False)],
           "phases": {"forward": {"samples": 64, "sweeps": 0, "neuron_updates": 0},
                      "backward": {"samples": 64, "sweeps": 0, "neuron_updates": 0},
                      "inference": {"samples": 10, "sweeps": 0, "neuron_updates": 0}}}
    for L in dig["layers"]:
        for ph in L["phases"].values():
            for c in ph.values():
                for k in READ_KEYS:
                    c[k] = c["macs"] if k == "macs" else 0
    g = gpu_estimate(dig, chip(gpu_eta=0.05))
    flops = 2 * 64 * 784 * 500
    t = flops / (0.05 * 312e12)
    assert g["phases"]["forward"] == pytest.approx({"flops": flops, "time_s": t, "energy_j": 400 * t})
    assert g["phases"]["update"]["flops"] == flops and g["phases"]["inference"]["flops"] == 0
    assert g["train"]["energy_j"] == pytest.approx(3 * 400 * t)
    assert g["train"]["energy_per_sample_j"] == pytest.approx(3 * 400 * t / 64)
    h = gpu_estimate(dig, chip(gpu="h100_sxm", gpu_power_w=350.0))
    assert h["power_w"] == 350.0 and h["peak_flops"] == 989.4e12 and h["eta"] == 0.2
    assert h["phases"]["forward"]["energy_j"] == pytest.approx(350 * flops / (0.2 * 989.4e12))
    # the same digital record priced on the chip's digital logic: MACs x (E_mult + E_add), no arrays
    r = price(dig, chip(), None)
    assert r.energy_j["forward"]["digital"] == pytest.approx(64 * 784 * 500 * 1.05e-12)
    assert r.energy_j["forward"]["array"] == 0.0 and r.chip["arrays"] == 0 and r.energy_j["forward"]["leakage"] == 0
