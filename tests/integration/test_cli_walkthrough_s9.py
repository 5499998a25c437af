"""Two leftovers of the session-8 walkthrough (benchmarks/walkthrough_s8.md, N6 and N8), each
failing before its fix: an empty sweep spec ran one default 10-epoch point, and a rerun with an
edited spec into its folder overwrote ``spec.yaml``, losing the text its earlier points ran with."""

import hashlib
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from analog_ep.cli import app
from analog_ep.results import read_results
from analog_ep.study.sweep import read_table
from conftest import one_line_error

runner = CliRunner()
TINY = {"data.train_size": 32, "data.test_size": 16, "model.hidden": [8], "train.epochs": 1,
        "solver.free_iters": 5, "solver.nudge_iters": 3}


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "{}\n", "null\n"])
def test_an_empty_spec_is_refused_in_one_line(tmp_path, text):
    spec = tmp_path / "empty.yaml"
    spec.write_text(text)
    out = tmp_path / "out"
    one_line_error(runner.invoke(app, ["sweep", str(spec), "--out", str(out)]), str(spec), "empty", "grid")
    assert not out.exists()


def _write(path: Path, lrs) -> str:
    text = yaml.safe_dump({"base": {"set": TINY}, "grid": {"train.lr": list(lrs)}}, sort_keys=False)
    path.write_text(text)
    return text


def test_a_rerun_with_an_edited_spec_keeps_the_earlier_spec(tmp_path):
    spec, out = tmp_path / "lr.yaml", tmp_path / "out"
    first = _write(spec, [0.01])
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(out)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(out)])  # same text: nothing kept twice
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.glob("spec*.yaml")) == ["spec.yaml"]

    second = _write(spec, [0.01, 0.02])
    res = runner.invoke(app, ["sweep", str(spec), "--out", str(out)])
    assert res.exit_code == 0, res.output
    kept = out / f"spec.{hashlib.sha256(first.encode()).hexdigest()[:8]}.yaml"
    assert kept.read_text() == first and (out / "spec.yaml").read_text() == second
    assert f"kept as {kept}" in res.output
    rows = read_table(out / "sweep.csv")
    assert len(rows) == 2 and all(r["status"] == "finished" for r in rows)
    assert "1 finished already" in res.output  # the point both specs share was not rerun


def _session_processes(sid: int) -> list[str]:
    """Command lines of the live processes of session ``sid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(cmd)
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_a_sweep_signalled_as_a_group_leaves_no_worker_behind(tmp_path):
    """`timeout` (and batch systems) send SIGTERM to the sweep and to its whole process group. The
    forkserver died of it, the pool read its workers as lost, and a worker whose point caught the
    signal (checkpoint, return) then waited for work for good, holding the sweep's output pipes
    (walkthrough N9: found 45 minutes later). Now each worker ends once its parent is gone."""
    import os
    import signal
    import subprocess
    import sys
    import time

    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"base": {"set": {"train.epochs": 200, "data.train_size": 256}},
                                    "grid": {"train.lr": [0.01, 0.02]}}))
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    log = tmp_path / "stderr.txt"
    with open(log, "wb") as err:  # a file, not a pipe: a worker left behind holds it open
        proc = subprocess.Popen([sys.executable, "-m", "analog_ep", "sweep", str(spec), "--out", str(out),
                                 "--workers", "2"], stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True, env=env)
    try:
        deadline = time.monotonic() + 240
        while len(list(out.glob("*/results.h5"))) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert proc.poll() is None, log.read_text()
        time.sleep(5)  # both points are training
        os.kill(proc.pid, signal.SIGTERM)
        os.killpg(proc.pid, signal.SIGTERM)  # as timeout(1) does: the child, then its group
        assert proc.wait(timeout=240) == 143, log.read_text()
        deadline = time.monotonic() + 30
        while _session_processes(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _session_processes(proc.pid) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        for _ in _session_processes(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
            break
    assert "preempted: SIGTERM" in log.read_text()
    # the folders hold what ran: each point stopped with its checkpoint (the table may have been
    # written before an orphaned worker recorded it; the next run of the sweep reads the folders)
    for folder in (Path(r["folder"]) for r in read_table(out / "sweep.csv")):
        # its own SIGTERM (preempted) or the sweep's stop / the orphan watch (interrupted) ended it
        assert read_results(folder / "results.h5")["status"] in ("interrupted", "preempted")
        assert (folder / "checkpoint.pt").is_file()
