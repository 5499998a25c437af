"""The cost model's settle phase, update schemes and mixed-precision accumulator (issues 19/20,
DESIGN sections 7b, 7c) against closed forms.

References: a settle phase's array energy is ``V^2 sum(G) t`` (every cell of every layer conducts
for the settled time), its neuron circuits draw ``E_tau x nodes x t / tau`` (an energy per node
per time constant of the record's neurons; ``tau`` = 1 us for a record without one), it converts each node
once (``readouts x E_conv(b)``) and lasts ``t + samples x read-out``; doubling the settled time
doubles the time-proportional terms and leaves the read-out alone. The bitstream update (the RPU
papers' parallel outer product) has no digital correlation (its drivers generate ``bl``-slot
trains on every driven line per vector); the rounded update has ``x * delta`` MACs; the mixed
update's chi traffic is ``weights x updates x (4 chi_bits E_sram + 2 E_add)``. Iterative pricing
is unchanged: a fixed record priced before this change gives the same numbers. The counters of a
real settle step: one read-out per node per sample, the settled time summed on the device."""

import math

import pytest
import torch

from analog_ep.analog.cards import load_device
from analog_ep.config import load_config
from analog_ep.config.schema import ChipConfig
from analog_ep.errors import ConfigError
from analog_ep.hardware import adc_energy_j, adc_time_s, area, price
from analog_ep.synapses.counters import PHASES, PhaseCounter, diff_counts

from test_hardware_cost import ep_record, layer, update_counts

V, T_READ = 0.2, 1e-8


def settle_record(t=3e-6 * 8, samples=8, g=12.5, rows=6, cols=5, tile_rows=(4, 2), tile_cols=(3, 2), out=4,
                  inputs=0, tau=None):
    """Two analog layers settling in phase ``free``: ``t`` settled seconds summed over ``samples``
    samples; W1 (rows x cols, tiled) reads out its ``cols`` nodes, W2 (cols x out) its ``out``;
    ``inputs`` counted forward reads of W1 (the clamped input's drive)."""
    l1 = layer("W1", rows, cols, list(tile_rows), list(tile_cols), {"free": {"forward": inputs}} if inputs else {},
               g=g, adc=6)
    l2 = layer("W2", cols, out, [cols], [out], {}, g=None if g is None else 2 * g, adc=6)
    l1["readouts"] = {"free": samples * cols}
    l2["readouts"] = {"free": samples * out}
    nodes = cols + out
    free = {"samples": samples, "sweeps": 40, "neuron_updates": samples * nodes, "settle_samples": samples,
            "settle_time_s": t}
    if tau is not None:
        free["settle_tau_s"] = tau
    return {"layers": [l1, l2], "phases": {"free": free}}


def chip(**kw):
    return ChipConfig(**{"v_read": V, "input_activity": 1.0, **kw})


# ------------------------------------------------------------------------------ settle phase


def test_settle_array_energy_is_v2_sum_g_t():
    rec = settle_record()
    r = price(rec, chip(), load_device("memristor"))
    t = 3e-6 * 8
    # sum over the cells of both layers (a differential pair per weight) of V^2 G t
    sum_g = 6 * 5 * 2 * 12.5e-6 + 5 * 4 * 2 * 25e-6
    assert r.energy_j["free"]["array"] == pytest.approx(V ** 2 * sum_g * t, rel=1e-12)
    # the input activity scales the drive as for an iterative read
    r = price(rec, chip(input_activity=0.25), load_device("memristor"))
    assert r.energy_j["free"]["array"] == pytest.approx(0.25 * V ** 2 * sum_g * t, rel=1e-12)
    # a record without its neurons' tau (before session 15): priced at 1 us, as 0.25 uW was, with a note
    assert r.energy_j["free"]["neurons"] == pytest.approx(0.25e-6 * 9 * t, rel=1e-12)
    assert any(u.startswith("free: no settle_tau_s in the record") for u in r.unknown)
    assert r.relaxation == {"free": "settle"} and r.settle_time_s == {"free": t}
    d = r.to_dict()
    assert d["settle"]["free"]["settle_time_per_sample_s"] == pytest.approx(t / 8)
    assert d["relaxation"] == {"free": "settle"}


def test_settle_converts_each_node_once_and_its_latency_is_settle_plus_one_readout():
    c = chip()
    rec = settle_record()
    r = price(rec, c, load_device("memristor"))
    e6, t6 = adc_energy_j(c, 6), adc_time_s(c, 6)
    assert r.energy_j["free"]["adc"] == pytest.approx(8 * (5 + 4) * e6, rel=1e-12)
    # no DAC and no per-sweep conversion: the 40 integrator steps cost nothing by themselves
    assert r.energy_j["free"]["drivers"] == 0.0
    # digital: storing each read-out state (state_bits writes per node per sample)
    assert r.energy_j["free"]["digital"] == pytest.approx(8 * 9 * 16 * 0.02e-12, rel=1e-12)
    # latency: the settled time plus, per sample, the slowest layer's read-out: W1's 5 nodes on
    # ceil(3/8) + ceil(2/8) = 2 column ADCs (3 each), W2's 4 on one ADC (4 conversions)
    assert r.latency_s["free"] == pytest.approx(3e-6 * 8 + 8 * 4 * t6, rel=1e-12)
    # the counted reads of a settle phase are the clamped input's drive: drivers only, one level
    r = price(settle_record(inputs=8), c, load_device("memristor"))
    assert r.energy_j["free"]["drivers"] == pytest.approx(8 * 6 * 2 * 0.05e-12, rel=1e-12)
    assert r.energy_j["free"]["adc"] == pytest.approx(8 * 9 * e6, rel=1e-12)
    assert r.latency_s["free"] == pytest.approx(3e-6 * 8 + 8 * 4 * t6, rel=1e-12)


def test_doubling_the_settle_time_doubles_array_and_static_energy_not_the_readout():
    c = chip()
    a = price(settle_record(t=1e-5), c, load_device("memristor"))
    b = price(settle_record(t=2e-5), c, load_device("memristor"))
    for comp in ("array", "neurons"):
        assert a.energy_j["free"][comp] > 0
        assert b.energy_j["free"][comp] == pytest.approx(2 * a.energy_j["free"][comp], rel=1e-12)
    for comp in ("adc", "digital", "drivers"):
        assert b.energy_j["free"][comp] == a.energy_j["free"][comp]
    readout = a.latency_s["free"] - 1e-5
    assert b.latency_s["free"] - 2e-5 == pytest.approx(readout, rel=1e-9)
    # leakage follows the latency
    assert b.energy_j["free"]["leakage"] == pytest.approx(1e-6 * b.chip["arrays"] * b.latency_s["free"], rel=1e-12)


def test_settle_array_energy_without_a_conductance_is_unknown():
    r = price(settle_record(g=None), chip(), None)
    assert r.energy_j["free"]["array"] is None and r.phase_energy_j("free") is None
    assert any("array energy unknown" in u for u in r.unknown)


@pytest.mark.parametrize("tau", [1.05e-9, 1e-7])
def test_the_neurons_energy_is_a_constant_energy_per_time_constant(tau):
    """Closed form: ``neurons = E_tau x nodes x t / tau``; per node per time constant it is
    ``chip.neuron_energy_per_tau_j`` whatever tau (a 95x faster neuron settles 95x sooner at 95x
    the power); nothing else in the phase depends on tau."""
    t = 3e-6 * 8
    c = chip(neuron_energy_per_tau_j=0.3e-12)
    r = price(settle_record(t=t, tau=tau), c, load_device("memristor"))
    e = r.energy_j["free"]["neurons"]
    assert e == pytest.approx(0.3e-12 * 9 * t / tau, rel=1e-12)
    assert e / (9 * t / tau) == pytest.approx(0.3e-12, rel=1e-12)
    assert not any("settle_tau_s" in u for u in r.unknown)
    other = price(settle_record(t=t, tau=2 * tau), c, load_device("memristor"))
    assert other.energy_j["free"]["neurons"] == pytest.approx(e / 2, rel=1e-12)
    for comp in ("array", "adc", "digital", "drivers"):
        assert other.energy_j["free"][comp] == r.energy_j["free"][comp]


def test_a_settle_step_records_its_neurons_tau_through_diffs_and_checkpoints():
    pc = PhaseCounter()
    pc.set_phase("free")
    pc.add_settle(2, torch.tensor([1e-6, 1e-6]), 1.05e-9)
    first = pc.counts()
    pc.add_settle(2, torch.tensor([1e-6, 1e-6]), 1.05e-9)
    d = diff_counts({"layers": [], "phases": first}, {"layers": [], "phases": pc.counts()})
    assert d["phases"]["free"]["settle_tau_s"] == 1.05e-9 and d["phases"]["free"]["settle_samples"] == 2
    fresh = PhaseCounter()
    fresh.load_state_dict(pc.state_dict())
    assert fresh.counts()["free"]["settle_tau_s"] == 1.05e-9
    old = pc.state_dict()
    old["_extra_state"] = {"table": old["_extra_state"]["table"]}   # a checkpoint before session 15
    fresh = PhaseCounter()
    fresh.load_state_dict(old)
    assert "settle_tau_s" not in fresh.counts()["free"]


def test_neuron_energy_key_is_validated_and_the_old_power_key_renamed(tmp_path):
    with pytest.raises(ConfigError, match="chip.neuron_energy_per_tau_j: must be > 0"):
        load_config(None, ["chip.neuron_energy_per_tau_j=0"])
    with pytest.raises(ConfigError, match=r"^chip.neuron_static_w: renamed chip.neuron_energy_per_tau_j .*; set "
                                          r"chip.neuron_energy_per_tau_j instead$"):
        load_config(None, ["chip.neuron_static_w=1e-6"])
    from analog_ep.config.loader import load_chip_file

    chip_file = tmp_path / "chip.yaml"
    chip_file.write_text("neuron_static_w: 1.0e-6\n")
    with pytest.raises(ConfigError, match=rf"^{chip_file}: chip.neuron_static_w: renamed chip.neuron_energy_per_tau_j"):
        load_chip_file(chip_file)
    stored = load_config(None, [])
    import yaml

    from analog_ep.config import dump_yaml

    data = yaml.safe_load(dump_yaml(stored))
    del data["chip"]["neuron_energy_per_tau_j"]
    data["chip"]["neuron_static_w"] = 0.5e-6   # a config stored before session 15
    assert load_config(None, [], base=data).chip.neuron_energy_per_tau_j == pytest.approx(0.5e-12, rel=1e-12)
    assert ChipConfig().neuron_energy_per_tau_j == 0.25e-12
    with pytest.raises(ConfigError, match="chip.chi_bits: must be an integer >= 1"):
        load_config(None, ["chip.chi_bits=0"])


# ------------------------------------------------------------------------------ update schemes


def _update_layer(kind, v=16, updates=1, bl=31):
    rows, cols = 784, 500
    lay = layer("W1", rows, cols, [512, 272], [500], {}, update_counts(set_p=10, reset_p=5, row_slots=6,
                                                                       pulse_rounds=2, macs=v * rows * cols,
                                                                       updates=updates), g=20.0)
    lay["update_kind"], lay["bl"] = kind, bl
    return {"layers": [lay], "phases": {}}


def test_bitstream_has_no_correlation_macs_rounded_has_x_delta_macs():
    c = chip()
    card = load_device("memristor")
    rounded = price(_update_layer("rounded"), c, card)
    assert rounded.energy_j["update"]["digital"] == pytest.approx(16 * 784 * 500 * (1.0e-12 + 0.05e-12), rel=1e-12)
    assert rounded.energy_j["update"]["drivers"] == 0.0
    bits = price(_update_layer("bitstream"), c, card)
    assert bits.energy_j["update"]["digital"] == 0.0
    # trains of bl = 31 slots per vector on every driven line of every tile: W1's rows drive its
    # one column block, its columns its two row blocks
    lines = 784 * 1 + 500 * 2
    assert bits.energy_j["update"]["drivers"] == pytest.approx(16 * 31 * lines * 0.05e-12, rel=1e-12)
    # the write energy (coincidences: the counted pulses) is the same
    assert bits.energy_j["update"]["write"] == pytest.approx(rounded.energy_j["update"]["write"], rel=1e-12)
    # latency: bl slots per vector in sequence, no digital correlation time
    t_w = load_device("memristor").write.width_s("set")
    assert bits.latency_s["update"] == pytest.approx(16 * 31 * t_w, rel=1e-9)
    assert rounded.latency_s["update"] == pytest.approx(6 / 2 * t_w + 16 * 784 * 500 / (128 * 1e9), rel=1e-9)
    # records without an update kind (before this change) keep the digital correlation
    old = _update_layer(None)
    del old["layers"][0]["update_kind"]
    assert price(old, c, card).energy_j["update"] == rounded.energy_j["update"]


def test_mixed_accumulator_traffic_scales_with_weights_and_steps_and_has_area():
    c = chip()
    card = load_device("memristor")
    one = price(_update_layer("mixed", updates=1), c, card)
    three = price(_update_layer("mixed", updates=3), c, card)
    per = 784 * 500 * (4 * 16 * 0.16e-12 + 2 * 0.05e-12)
    assert one.energy_j["update"]["accumulator"] == pytest.approx(per, rel=1e-12)
    assert three.energy_j["update"]["accumulator"] == pytest.approx(3 * per, rel=1e-12)
    # the correlation stays digital
    assert one.energy_j["update"]["digital"] == pytest.approx(16 * 784 * 500 * 1.05e-12, rel=1e-12)
    # more chi bits, more traffic; a rounded layer has none
    assert price(_update_layer("mixed"), chip(chi_bits=32), card).energy_j["update"]["accumulator"] > per
    assert price(_update_layer("rounded"), c, card).energy_j["update"]["accumulator"] == 0.0
    # area: chi_bits SRAM cells of 10F x 28F per weight, F = 56 nm
    a = area(_update_layer("mixed"), c)
    assert a["layers"]["W1"]["accumulator"] == pytest.approx(784 * 500 * 16 * 280 * 0.056 ** 2, rel=1e-12)
    assert a["chip"]["accumulator"] == a["layers"]["W1"]["accumulator"]
    r = area(_update_layer("rounded"), c)
    assert r["layers"]["W1"]["accumulator"] == 0.0
    assert a["chip"]["total"] - r["chip"]["total"] == pytest.approx(a["chip"]["accumulator"], rel=1e-9)


# ------------------------------------------------------------------------------ iterative unchanged

# price(ep_record(...), ChipConfig(), neurosim card) computed before the settle / scheme pricing
# (commit 30d0b91): the iterative phases and a rounded update must keep these numbers
BEFORE = {"free": {"drivers": 8.67552e-08, "array": 3.822336000000001e-06, "adc": 2.9563911211267607e-06,
                   "digital": 1.7379488e-07, "write": 0.0, "leakage": 9.242565e-10},
          "nudge+": {"drivers": 2.3335199999999998e-08, "array": 1.087296e-06, "adc": 8.215863718309859e-07,
                     "digital": 4.4480719999999997e-08, "write": 0.0, "leakage": 2.42422125e-10},
          "update": {"drivers": 0.0, "array": 0.0, "adc": 0.0, "digital": 6.6696000000000005e-06,
                     "write": 0.00010038719999999997, "leakage": 1.35148875e-07}}
BEFORE_LATENCY = {"free": 0.0003080855, "nudge+": 8.080737499999999e-05, "update": 0.045049625}
BEFORE_AREA = 629746.2534201182


def test_iterative_pricing_is_unchanged():
    rec = ep_record(upd1=update_counts(set_p=1000, reset_p=700, row_slots=300, pulse_rounds=4, macs=16 * 784 * 500),
                    upd2=update_counts(set_p=50, reset_p=20, row_slots=30, pulse_rounds=3, macs=16 * 500 * 10))
    for lay in rec["layers"]:
        lay["update_kind"], lay["bl"] = "rounded", 31
    r = price(rec, ChipConfig(), load_device("neurosim"))
    for phase, comps in BEFORE.items():
        for comp, v in comps.items():
            assert r.energy_j[phase][comp] == pytest.approx(v, rel=1e-12, abs=0.0), (phase, comp)
        assert r.energy_j[phase]["neurons"] == 0.0 and r.energy_j[phase]["accumulator"] == 0.0
        assert r.latency_s[phase] == pytest.approx(BEFORE_LATENCY[phase], rel=1e-12)
    assert r.area_um2["chip"]["total"] == pytest.approx(BEFORE_AREA, rel=1e-12)
    assert set(r.relaxation.values()) == {"iterative"} and r.settle_time_s == {}


def test_every_relaxation_has_one_phase_pricing():
    """The cost model prices each relaxation of the registry (``analog.relaxation``'s values) its
    own way: a relaxation added without a pricing (or a pricing without a relaxation) fails here."""
    from analog_ep.config.relaxations import RELAXATIONS
    from analog_ep.hardware.cost import PHASE_PRICINGS

    assert list(PHASE_PRICINGS) == list(RELAXATIONS)


# ------------------------------------------------------------------------------ counters


def test_phase_counter_sums_settle_time_on_device_and_loads_old_checkpoints():
    pc = PhaseCounter()
    pc.set_phase("free")
    pc.add(4, 10, 4 * 9)
    pc.add_settle(4, torch.tensor([1e-6, 2e-6, 3e-6, 4e-6], dtype=torch.float32))
    first = {"layers": [], "phases": pc.counts()}
    assert first["phases"]["free"]["settle_samples"] == 4
    assert first["phases"]["free"]["settle_time_s"] == pytest.approx(1e-5, rel=1e-6)
    pc.add(2, 5, 18)
    pc.add_settle(2, torch.tensor([5e-6, 5e-6]))
    d = diff_counts(first, {"layers": [], "phases": pc.counts()})
    assert d["phases"]["free"]["settle_samples"] == 2
    assert d["phases"]["free"]["settle_time_s"] == pytest.approx(1e-5, rel=1e-6)
    # a state dict from before the settled time: zero, and old 3-field rows load
    sd = {k: v for k, v in pc.state_dict().items() if k != "settle_s"}
    sd["_extra_state"] = {"table": {"free": [3, 4, 5]}}
    fresh = PhaseCounter()
    fresh.load_state_dict(sd)
    assert fresh.counts()["free"] == {"samples": 3, "sweeps": 4, "neuron_updates": 5, "settle_samples": 0,
                                      "settle_time_s": 0.0}
    # counting off: nothing added
    fresh.enabled = False
    fresh.add_settle(3, torch.ones(3))
    assert fresh.settle_s.sum().item() == 0.0
    assert len(PHASES) == fresh.settle_s.numel()


@pytest.fixture(scope="module")
def settle_step():
    from analog_ep.data import load_data
    from analog_ep.train import make_trainer
    from analog_ep.train.costs import step_cost

    cfg = load_config(None, ["data.name=digits", "model.hidden=[12]", "data.train_size=16", "data.test_size=8",
                             "data.batch_size=8", "analog.device=memristor", "analog.relaxation=settle",
                             "solver.free_iters=6", "solver.nudge_iters=3"])
    train, _, info = load_data(cfg.data, cfg.seed)
    trainer = make_trainer(cfg, None, data=(train, train, info))
    x, y = train.batch(slice(0, 8))
    return cfg, trainer, step_cost(trainer, x, y)


def test_a_settle_step_counts_one_readout_per_node_and_its_settled_time(settle_step):
    cfg, trainer, out = settle_step
    rec = out["counts"]["train"]
    nodes = 12 + 10
    tau = trainer.model.periphery.settle_tau_s   # the card's neuron (memristor: 100 fF / 95 uS)
    # a nudged phase's default budget counts its own slowest time constants (at most 1 / floor tau each)
    from analog_ep.solvers.settle import SLOWEST_RATE_FLOOR

    for phase, budget in (("free", 6), ("nudge+", 3 / SLOWEST_RATE_FLOOR), ("nudge-", 3 / SLOWEST_RATE_FLOOR)):
        st = rec["phases"][phase]
        assert st["settle_samples"] == 8 and st["neuron_updates"] == 8 * nodes
        assert 0 < st["settle_time_s"] <= 8 * budget * tau * (1 + 1e-6)
        assert st["settle_tau_s"] == tau           # the phase's record carries its neuron's tau
        # one read-out conversion per node per sample, on the storages that read the nodes out
        assert sum(lay["readouts"].get(phase, 0) for lay in rec["layers"]) == 8 * nodes
    assert [lay["update_kind"] for lay in rec["layers"]] == ["rounded", "rounded"]
    chip_part = out["cost"]["chip"]
    assert chip_part["relaxation"]["free"] == "settle"
    r = price(rec, cfg.chip, trainer.model.device_card)
    # the read-out conversions at each layer's ADC bits, nothing per integrator step
    e_adc = sum(lay["readouts"].get("nudge+", 0) * adc_energy_j(cfg.chip, lay["adc_bits"] or cfg.chip.default_bits)
                for lay in rec["layers"])
    assert r.energy_j["nudge+"]["adc"] == pytest.approx(e_adc * cfg.chip.calib_energy, rel=1e-12)
    assert r.energy_j["nudge+"]["array"] > 0 and r.energy_j["nudge+"]["neurons"] > 0
    # the neurons priced per time constant of this phase's own tau (not the 1 us fallback)
    st = rec["phases"]["free"]
    assert r.energy_j["free"]["neurons"] == pytest.approx(
        cfg.chip.neuron_energy_per_tau_j * nodes * st["settle_time_s"] / tau, rel=1e-12)


def test_settle_time_reaches_the_epoch_metrics_under_one_name(settle_step):
    """The cost fields price the settle (its neurons' energy) but leave the settled time per sample
    to the history's ``<phase>_settle_time_s`` (tests/unit/test_settle.py): one name, one place."""
    from analog_ep.train.costs import row_fields

    _, _, out = settle_step
    fields = row_fields(out["cost"])
    assert not [k for k in fields if "settle_time" in k]
    for phase in ("free", "nudge+", "nudge-"):
        assert math.isfinite(fields[f"energy_{phase}_neurons_j"])
        assert out["cost"]["chip"]["settle"][phase]["settle_time_per_sample_s"] > 0  # the cost command's line
