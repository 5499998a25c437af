"""Time from SIGTERM to exit of ``analog-ep train`` (session 17, task S: session 16's probe,
``benchmarks/sigterm_latency_s16/probe.py``, with ``--numba-cache DIR`` and its folder /tmp/S17_sig).

    python benchmarks/sigterm_latency_s17/probe.py NAME WHEN [--wrapper time] [--resume DIR] [--code DIR]
        [--numba-cache DIR] -- TRAIN_ARGS...

``--numba-cache DIR``: the run's ``NUMBA_CACHE_DIR`` (an empty folder: numba's kernel cache is cold,
the first training step compiles every kernel it calls; the same folder again: warm).

Starts ``python -m analog_ep train TRAIN_ARGS --out /tmp/S17_sig/NAME`` (``nice -n 10``) under a
pseudo-terminal (``script``), so tqdm's progress bar reaches the log and tells where the run is;
sends SIGTERM at the point ``WHEN`` names and times the exit (0.05 s polling):

- ``step:K`` / ``step:E:K``: the epoch-1 (epoch-E) bar shows step K (the bar counts a step when it
  starts: the signal lands inside step K);
- ``first:S``: S seconds after the epoch-1 bar appeared (inside the first step: numba's compiles);
- ``eval``: the training bar of epoch 1 has shown its last step (the signal lands in the test pass);
- ``start:S``: S seconds after the start (model building, numba's start-up / first compile);
- ``none``: no signal; the run's own end (a resumed run that should finish);

``--wrapper time`` starts the run as ``nohup bash -c "/usr/bin/time -f ... python ...; echo"`` with
its output in the log and no terminal (as the session-15 launcher ran; no bar there, so use
``start:S``) and sends SIGTERM to that bash (the launcher's pid), not to python: it
reports whether python ended, or is still running after 60 s (then it is ended with SIGTERM to
python itself, which this script also times).

One JSON line per probe on stdout: where, seconds to exit, exit code, results.h5 status, epoch
and step of the checkpoint.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path("/tmp/S17_sig")


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def descendants(pid: int) -> list[int]:
    out = []
    for c in children(pid):
        out.append(c)
        out.extend(descendants(c))
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def bar_steps(log: Path, epoch: int) -> tuple[int, int] | None:
    """The last ``(done, total)`` the epoch-``epoch`` bar printed."""
    try:
        text = log.read_bytes().decode(errors="replace")
    except OSError:
        return None
    hits = re.findall(rf"epoch {epoch}/\d+:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+)", text)
    return (int(hits[-1][0]), int(hits[-1][1])) if hits else None


def run_status(out: Path) -> dict:
    import h5py
    import torch

    res = {}
    try:
        with h5py.File(out / "results.h5", "r") as f:
            res["status"] = str(f.attrs.get("status"))
    except OSError as e:
        res["status"] = f"(no results.h5: {type(e).__name__})"
    try:
        ck = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=False)
        part = ck.get("partial")
        res["ckpt_epoch"] = int(ck["epoch"])
        res["ckpt_step"] = None if part is None else int(part["step"])
        res["test_accs"] = [r.get("test_accuracy") for r in ck["history"]]
    except OSError as e:
        res["ckpt_epoch"] = f"(no checkpoint: {type(e).__name__})"
    return res


def main() -> None:
    argv = sys.argv[1:]
    sep = argv.index("--")
    own, train_args = argv[:sep], argv[sep + 1:]
    name, when = own[0], own[1]
    wrapper = own[own.index("--wrapper") + 1] if "--wrapper" in own else None
    resume = own[own.index("--resume") + 1] if "--resume" in own else None
    code = own[own.index("--code") + 1] if "--code" in own else None  # a copy of the package to run (PYTHONPATH)
    ncache = own[own.index("--numba-cache") + 1] if "--numba-cache" in own else None
    ROOT.mkdir(parents=True, exist_ok=True)
    out = ROOT / name
    log = ROOT / f"{name}.log"
    py = f"{sys.executable} -m analog_ep train " + " ".join(train_args)
    py += f" --resume {resume}" if resume else f" --out {out} --overwrite"
    if resume:
        out = Path(resume)
    if wrapper == "time":
        inner = f"/usr/bin/time -f '# time user_s sys_s wall_s: %U %S %e' {py}; echo \"# bash: python exit $?\""
    else:
        inner = f"exec {py}"
    inner = "stty cols 160 rows 40; " + inner  # a pty of width 0 hides tqdm's bar
    if wrapper:  # as the session-15 launcher ran: `setsid nohup bash run10k.sh ... &`, output to a file, no tty
        argv_l = ["nice", "-n", "10", "nohup", "/bin/bash", "-c", inner.split("; ", 1)[1]]
        sink = open(log, "wb")
    else:  # script -e: its exit code is the child's; -f: flush; -q: quiet
        argv_l = ["nice", "-n", "10", "script", "-qfec", inner, str(log)]
        sink = subprocess.DEVNULL
    launcher = subprocess.Popen(argv_l, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink,
                                start_new_session=True, cwd="/tmp", env={**os.environ, "SHELL": "/bin/bash",
                                                             **({"PYTHONPATH": code} if code else {}),
                                                             **({"NUMBA_CACHE_DIR": ncache} if ncache else {})})
    t_start = time.monotonic()
    # the python process (and, with the wrapper, the bash that runs /usr/bin/time)
    pid_py = pid_bash = None
    while pid_py is None:
        for p in descendants(launcher.pid):
            c = cmdline(p)
            if "-m analog_ep train" in c and "python" in c.split()[0]:
                pid_py = p
        if wrapper:
            pid_bash = launcher.pid  # (nohup execs bash)
        time.sleep(0.02)
        if launcher.poll() is not None:
            sys.exit(f"the run ended before its python process was seen: {log}")
    kind, _, arg = when.partition(":")
    t_bar = None
    while True:  # wait for the point
        if launcher.poll() is not None and kind != "none":
            print(json.dumps({"name": name, "when": when, "error": "run ended before the point", "log": str(log)}))
            return
        if kind == "start" and time.monotonic() - t_start >= float(arg):
            break
        if kind == "none":  # no signal: the run's own end (a resumed run that should finish)
            launcher.wait()
            rec = {"name": name, "when": when, "code": code or "worktree", "signal_to": None,
                   "seconds_total": round(time.monotonic() - t_start, 2), "exit_code": launcher.returncode}
            rec.update(run_status(out))
            rec["load"] = Path("/proc/loadavg").read_text().split()[:3]
            rec["utc"] = time.strftime("%H:%M:%S", time.gmtime())
            print(json.dumps(rec), flush=True)
            return
        if kind == "step":  # step:K (epoch 1) or step:E:K
            e, _, k = arg.rpartition(":")
            b = bar_steps(log, int(e or 1))
            if b is not None and b[0] >= int(k):
                break
        if kind == "first":  # first:S: S seconds after the epoch-1 bar appeared (the first step runs)
            if bar_steps(log, 1) is not None:
                t_bar = t_bar or time.monotonic()
                if time.monotonic() - t_bar >= float(arg):
                    break
        if kind == "eval":
            if closed(log, 1):
                break
        time.sleep(0.05)
    where = bar_steps(log, 1) if kind != "step" else _any_bar(log)
    target = pid_bash if wrapper else pid_py
    t_sig = time.monotonic()
    os.kill(target, signal.SIGTERM)
    rec = {"name": name, "when": when, "code": code or "worktree", "numba_cache": ncache,
           "signal_to": "bash (wrapper)" if wrapper else "python",
           "sent_at_s": round(t_sig - t_start, 2), "bar_at_signal": where}
    if wrapper:
        deadline = t_sig + 60
        while time.monotonic() < deadline and alive(pid_py):
            time.sleep(0.05)
        rec["python_alive_60s_after"] = alive(pid_py)
        rec["bash_alive"] = alive(pid_bash)
        if alive(pid_py):
            t_sig = time.monotonic()
            os.kill(pid_py, signal.SIGTERM)
            rec["then_signal_to"] = "python"
    while alive(pid_py):
        time.sleep(0.05)
    rec["seconds_to_exit"] = round(time.monotonic() - t_sig, 2)
    launcher.wait()
    rec["exit_code"] = launcher.returncode
    rec["bar_at_exit"] = bar_steps(log, 1) if kind != "step" else _any_bar(log)
    tail = log.read_bytes().decode(errors="replace").replace("\r", "\n").strip().splitlines()
    rec["last_line"] = next((ln for ln in reversed(tail) if ln.strip() and "%|" not in ln and not ln.startswith("Script ")), "")[-300:]
    rec.update(run_status(out))
    rec["load"] = Path("/proc/loadavg").read_text().split()[:3]
    rec["utc"] = time.strftime("%H:%M:%S", time.gmtime())
    print(json.dumps(rec), flush=True)


def closed(log: Path, epoch: int) -> bool:
    """Whether the epoch-``epoch`` bar showed its last step and was then cleared (tqdm's
    ``leave=False`` close: carriage return, spaces, carriage return): training is over and the
    test pass runs."""
    try:
        text = log.read_bytes().decode(errors="replace")
    except OSError:
        return False
    hits = list(re.finditer(rf"epoch {epoch}/\d+:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+)", text))
    if not hits or hits[-1].group(1) != hits[-1].group(2):
        return False
    return re.search(r"\r {20,}\r", text[hits[-1].end():]) is not None


def _any_bar(log: Path) -> tuple[int, int] | None:
    try:
        text = log.read_bytes().decode(errors="replace")
    except OSError:
        return None
    hits = re.findall(r"epoch \d+/\d+:\s+\d+%\|[^|]*\|\s*(\d+)/(\d+)", text)
    return (int(hits[-1][0]), int(hits[-1][1])) if hits else None


if __name__ == "__main__":
    main()
