"""`analog-ep bench` prices the steps it times (issue 19): the cost keys equal pricing the
recorded counts of that one step (``ep_step_counts`` / ``bp_step_counts``) with the cost model,
and those counts are one step's (closed forms with ``solver.tol=0``: the free phase relaxes the
batch for exactly ``free_iters`` sweeps, the output layer is read forward once per sample per
sweep); a digital config has no chip figures, only GPU estimates."""

import json

import pytest
from typer.testing import CliRunner

from analog_ep.analog.cards import load_device
from analog_ep.bench import BENCH_KEYS, COST_KEYS, bench
from analog_ep.cli import app
from analog_ep.config import load_config
from analog_ep.hardware import gpu_estimate, price

BATCH, FREE, NUDGE = 8, 5, 2
SETS = ["model.hidden=[12]", f"data.batch_size={BATCH}", f"solver.free_iters={FREE}", f"solver.nudge_iters={NUDGE}",
        "solver.tol=0", "solver.stop=tol", "data.train_size=32", "data.test_size=16"]


def _one_step(counts):
    free = counts["phases"]["free"]
    assert free["samples"] == BATCH and free["sweeps"] == FREE
    out = counts["layers"][-1]  # 12 -> 10: read forward every sweep of every sample
    assert out["rows"] == 12 and out["cols"] == 10
    assert out["phases"]["free"]["forward"]["macs"] == BATCH * FREE * 12 * 10
    if out["analog"]:
        assert out["phases"]["free"]["forward"]["vector_reads"] == BATCH * FREE


def test_analog_step_cost_is_its_counts_priced():
    cfg = load_config(None, [*SETS, "analog.device=memristor"])
    r = bench(cfg, repeats=1, warmup=1)
    for k in (*BENCH_KEYS, *COST_KEYS):
        assert k in r, k
    ep, bp = r["ep_step_counts"], r["bp_step_counts"]
    _one_step(ep)
    assert ep["layers"][0]["update"]["set_pulses"] + ep["layers"][0]["update"]["reset_pulses"] > 0
    rep = price(ep, cfg.chip, load_device("memristor"), samples=BATCH)
    assert r["ep_step_energy_per_sample_j"] == pytest.approx(rep.train_energy_j() / BATCH, rel=1e-12)
    assert r["ep_step_latency_per_sample_s"] == pytest.approx(rep.train_latency_s() / BATCH, rel=1e-12)
    assert r["ep_step_energy_per_sample_j"] > 0 and r["ep_step_latency_per_sample_s"] > 0
    g = gpu_estimate(ep, cfg.chip, samples=BATCH)["train"]
    assert r["ep_step_gpu_energy_per_sample_j"] == pytest.approx(g["energy_per_sample_j"], rel=1e-12)
    assert r["ep_step_gpu_latency_per_sample_s"] == pytest.approx(g["time_per_sample_s"], rel=1e-12)
    assert set(bp["phases"]) >= {"forward", "backward"} and bp["phases"]["forward"]["samples"] == BATCH
    g = gpu_estimate(bp, cfg.chip, samples=BATCH)["train"]
    assert r["bp_step_gpu_energy_per_sample_j"] == pytest.approx(g["energy_per_sample_j"], rel=1e-12)
    assert r["bp_step_gpu_latency_per_sample_s"] == pytest.approx(g["time_per_sample_s"], rel=1e-12)
    assert r["bp_step_gpu_energy_per_sample_j"] > 0 and r["bp_step_gpu_latency_per_sample_s"] > 0
    json.dumps(r)  # the counts travel in --json


def test_digital_step_has_gpu_estimates_only_and_a_text_line():
    args = [a for s in SETS for a in ("--set", s)]
    res = CliRunner().invoke(app, ["bench", *args, "--repeats", "1", "--warmup", "0", "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout.strip().splitlines()[-1])
    _one_step(r["ep_step_counts"])
    assert r["ep_step_energy_per_sample_j"] is None and r["ep_step_latency_per_sample_s"] is None
    cfg = load_config(None, SETS)
    g = gpu_estimate(r["ep_step_counts"], cfg.chip, samples=BATCH)["train"]
    assert r["ep_step_gpu_energy_per_sample_j"] == pytest.approx(g["energy_per_sample_j"], rel=1e-12)
    assert r["ep_step_gpu_energy_per_sample_j"] > 0
    res = CliRunner().invoke(app, ["bench", *args, "--repeats", "1", "--warmup", "0"])
    assert res.exit_code == 0, res.output
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("cost per training sample:")]
    assert len(line) == 1 and "on the chip" not in line[0] and " J" in line[0]
