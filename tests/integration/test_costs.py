"""What the learning costs, where a user looks (issue 19): ``train`` records each epoch's cost
(priced from that epoch's event counts, which results.h5 keeps), ``analog-ep cost`` prices one step,
``--chip FILE`` and ``--set chip.*`` change the chip, a card without write physics reports unknown
(null, never 0) in a run and is refused by ``cost``.

References: the stored per-epoch figures equal pricing the stored counts again (the record is
complete); the per-sample energy is the sum of its phase x component parts; the counts of an
epoch follow the solver's sweeps (free reads = samples x sweeps x per-sweep reads, closed form
for the two-layer Hopfield MLP); one more ADC bit costs what the ADC model says."""

import json
import math
import warnings

import pytest
from typer.testing import CliRunner

from analog_ep.cli import app
from analog_ep.config import load_config
from analog_ep.hardware import COMPONENTS, adc_energy_j
from analog_ep.results import read_results
from analog_ep.train.costs import cost_summary, row_fields

runner = CliRunner()
TINY = ["--set", "data.train_size=96", "--set", "data.test_size=32", "--set", "model.hidden=[16]",
        "--set", "train.epochs=1", "--set", "solver.free_iters=6", "--set", "solver.nudge_iters=3",
        "--set", "solver.tol=0", "--set", "solver.stop=tol", "--set", "data.batch_size=32"]


def _json_line(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def analog_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("costs")
    res = runner.invoke(app, ["train", *TINY, "--device", "memristor", "--out", str(root / "m"), "--json"])
    assert res.exit_code == 0, res.output
    return root / "m", _json_line(res.stdout)


def test_train_reports_the_epoch_cost_and_keeps_its_counts(analog_run):
    run, summary = analog_run
    r = read_results(run / "results.h5")
    ep = r["epochs"]
    assert summary["energy_per_sample_j"] == pytest.approx(float(ep["energy_per_sample_j"][-1]))
    assert summary["cost"]["chip"]["train"]["samples"] == 96
    # the per-sample energy is the sum of its phase x component parts
    parts = [float(ep[k][-1]) for k in ep if k.startswith("energy_") and k.endswith("_j")
             and k.split("_")[-2] in COMPONENTS]
    assert sum(parts) == pytest.approx(float(ep["energy_per_sample_j"][-1]), rel=1e-9)
    # the stored counts, priced again on the run's chip and card, give the stored figures
    record = r["records"]["event_counts"][-1]
    cfg = load_config(None, TINY[1::2] + ["analog.device=memristor"])
    from analog_ep.analog.cards import load_device as load_card

    again = row_fields(cost_summary(record, cfg.chip, load_card("memristor"), samples=96))
    for k, v in again.items():
        assert v == pytest.approx(float(ep[k][-1]), rel=1e-9), k
    # closed form of the free phase's reads (tol 0: every phase runs its budget): 96 samples in
    # 3 batches of 32, 6 sweeps each; the 16 -> 10 layer is read forward once per sample per sweep,
    # each read converting its 10 output lines
    free = record["phases"]["free"]
    assert free["samples"] == 96 and free["sweeps"] == 3 * 6  # 3 batches x 6 sweeps (tol 0)
    layer1 = record["layers"][1]  # 16 -> 10: forward read every sweep
    assert layer1["phases"]["free"]["forward"]["vector_reads"] == 96 * 6
    assert layer1["phases"]["free"]["forward"]["adc_conversions"] == 96 * 6 * 10


def test_one_more_adc_bit_costs_what_the_adc_model_says(analog_run):
    run, _ = analog_run
    record = read_results(run / "results.h5")["records"]["event_counts"][-1]
    cfg = load_config(None, ["analog.device=memristor"])
    from analog_ep.analog.cards import load_device as load_card

    card = load_card("memristor")
    base = cost_summary(record, cfg.chip, card)["chip"]
    for layer in record["layers"]:
        layer["adc_bits"] += 1
    more = cost_summary(record, cfg.chip, card)["chip"]
    b = record["layers"][0]["adc_bits"]
    ratio = adc_energy_j(cfg.chip, b) / adc_energy_j(cfg.chip, b - 1)
    assert more["energy_j"]["free"]["adc"] == pytest.approx(base["energy_j"]["free"]["adc"] * ratio, rel=1e-9)
    assert more["energy_j"]["free"]["array"] == pytest.approx(base["energy_j"]["free"]["array"], rel=1e-12)


def test_digital_run_gets_a_gpu_estimate_only(tmp_path):
    res = runner.invoke(app, ["train", *TINY, "--out", str(tmp_path / "d"), "--json"])
    assert res.exit_code == 0, res.output
    s = _json_line(res.stdout)
    assert s["cost"]["chip"] is None and "energy_per_sample_j" not in s
    assert s["gpu_energy_per_sample_j"] > 0 and s["gpu_latency_per_sample_s"] > 0


def test_card_without_write_physics_is_unknown_in_a_run_and_refused_by_cost(tmp_path):
    args = [*TINY, "--device", "reram_sb", "--set", "train.momentum=0", "--set", "analog.pulse_scheme=rounded",
            "--set", "analog.pulse_accumulation=net"]
    res = runner.invoke(app, ["train", *args, "--out", str(tmp_path / "r"), "--json"])
    assert res.exit_code == 0, res.output
    assert "reram_sb has no write: section" in res.stderr
    s = _json_line(res.stdout)
    assert s["energy_per_sample_j"] is None  # unknown, never 0
    assert s["cost"]["chip"]["energy_j"]["update"]["write"] is None
    assert s["cost"]["chip"]["energy_j"]["free"]["adc"] > 0  # what is known is still reported
    ep = read_results(tmp_path / "r" / "results.h5")["epochs"]
    assert math.isnan(float(ep["energy_per_sample_j"][-1]))
    res = runner.invoke(app, ["cost", *args])
    assert res.exit_code == 2 and "reram_sb" in res.stderr and "v_set" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_cost_command_and_chip_file(tmp_path):
    res = runner.invoke(app, ["cost", *TINY, "--device", "memristor", "--json"])
    assert res.exit_code == 0, res.output
    r = _json_line(res.stdout)
    names = [v["variant"] for v in r["variants"]]
    assert names == ["ep on the chip", "bp on the same chip", "ep digital (GPU estimate)", "bp digital (GPU estimate)"]
    ep_chip = r["variants"][0]["cost"]["chip"]
    assert ep_chip["train"]["samples"] == 32 and ep_chip["inference"]["samples"] == 32
    assert set(ep_chip["energy_j"]) >= {"free", "nudge+", "nudge-", "update", "inference"}
    bp_chip = r["variants"][1]["cost"]["chip"]
    assert set(bp_chip["energy_j"]) >= {"forward", "backward", "update"}
    chip = tmp_path / "chip.yaml"
    chip.write_text("adc_model: survey\ncols_per_adc: 4\n")
    res = runner.invoke(app, ["cost", *TINY, "--device", "memristor", "--chip", str(chip),
                              "--set", "chip.cols_per_adc=16", "--json"])
    assert res.exit_code == 0, res.output
    r2 = _json_line(res.stdout)
    assert r2["chip"]["adc_model"] == "survey" and r2["chip"]["cols_per_adc"] == 16  # --set wins over --chip
    # the survey ADC model prices the same counts differently; the counts do not change
    assert r2["variants"][0]["counts"] == r["variants"][0]["counts"]
    assert r2["variants"][0]["cost"]["chip"]["energy_j"]["free"]["adc"] != ep_chip["energy_j"]["free"]["adc"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("adc_modl: survey\n")
    res = runner.invoke(app, ["cost", "--chip", str(bad)])
    assert res.exit_code == 2 and "adc_model" in res.stderr and str(bad) in res.stderr
