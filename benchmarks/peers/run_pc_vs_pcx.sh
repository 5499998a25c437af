#!/usr/bin/env bash
# PC training epoch, analog-ep vs PCX, on the same MLP and data on this CPU (benchmarks/pc_vs_pcx.md).
#
#   python3 -m venv /tmp/pcxenv && /tmp/pcxenv/bin/pip install pcx      # once: PCX in its own env
#   bash benchmarks/peers/run_pc_vs_pcx.sh [OUT_JSON]                   # default benchmarks/pc_vs_pcx.json
#
# OURS_EPOCHS (1) epochs per analog-ep run, the last one timed; OURS_EXTRA extra analog-ep arguments, e.g.
#   OURS_EPOCHS=2 OURS_EXTRA="--set compute.compile=true" (the first epoch pays the compilation, as PCX's
#   warm-up call does on its side).
# Environment knobs: REPS (runs per side and setting, default 3), BATCHES ("64 256"),
# THREADS ("1 2"), HIDDEN (256,256), T (8), ACT_LR (0.1), LR (0.001), DATA (the Fashion-MNIST
# IDX folder), PCX_PY (/tmp/pcxenv/bin/python), OURS_PY (.venv/bin/python); OMP_WAIT_POLICY
# (unset: the OpenMP default) is passed to both sides and recorded (torch uses OpenMP; JAX does not).
# The analog-ep side runs from a snapshot of the committed tree (git archive HEAD, on PYTHONPATH),
# so commits landing in the checkout during the benchmark do not change the code under test;
# SNAPSHOT=0 runs the working tree instead. The commit is recorded. PIN_CPUS (e.g. 0, or 0,1) runs
# both sides under taskset -c PIN_CPUS (JAX keeps a dispatch thread next to its compute thread, so
# "1 thread" is not "1 core" without it).
# The two sides run alternately (ours, pcx, ours, pcx, ...) so machine noise hits both; every
# run is one training epoch of floor(60000 / batch) full batches followed by the 10k-image test.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-benchmarks/pc_vs_pcx.json}
REPS=${REPS:-3}
BATCHES=${BATCHES:-"64 256"}
THREADS=${THREADS:-"1 2"}
HIDDEN=${HIDDEN:-256,256}
T=${T:-8}
ACT_LR=${ACT_LR:-0.1}
LR=${LR:-0.001}
DATA=${DATA:-/work/shared/data/fashion-mnist}
PCX_PY=${PCX_PY:-/tmp/pcxenv/bin/python}
OURS_PY=${OURS_PY:-.venv/bin/python}
work=$(mktemp -d /tmp/pc_vs_pcx.XXXXXX)
runs=$work/runs.jsonl
: > "$runs"
commit=$(git rev-parse HEAD)
pin=()
if [ -n "${PIN_CPUS:-}" ]; then pin=(taskset -c "$PIN_CPUS"); fi
ours_pythonpath=${PYTHONPATH:-}
if [ "${SNAPSHOT:-1}" = 1 ]; then
  mkdir -p "$work/src" && git archive "$commit" analog_ep | tar -x -C "$work/src"
  ours_pythonpath=$work/src
  echo "analog-ep under test: $commit (snapshot in $work/src)" >&2
elif [ -n "$(git status --porcelain -- analog_ep)" ]; then
  commit="$commit+dirty"
fi

xla_flags() {  # $1 threads. The brief's strings: --xla_cpu_multi_thread_eigen is what XLA reads;
               # intra_op_parallelism_threads is not an XLA flag (XLA stops parsing there; keep it last)
  if [ "$1" = 1 ]; then echo "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
  else echo "--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=$1"; fi
}

record() {  # side threads batch rep load1 json-line
  python3 -c 'import json, sys
side, th, b, rep, load = sys.argv[1:6]
r = json.loads(sys.argv[6])
import os
print(json.dumps({"side": side, "threads": int(th), "batch": int(b), "rep": int(rep), "load1_before": float(load),
                  "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "pin_cpus": os.environ.get("PIN_CPUS") or None,
                  "result": r}))' \
    "$@" >> "$runs"
}

for th in $THREADS; do
  for b in $BATCHES; do
    n=$(( 60000 / b * b ))
    for rep in $(seq 1 "$REPS"); do
      load=$(cut -d' ' -f1 /proc/loadavg)
      echo "[$(date +%T)] threads $th batch $b rep $rep: analog-ep (load $load)" >&2
      line=$(PYTHONPATH=$ours_pythonpath OMP_NUM_THREADS=$th MKL_NUM_THREADS=$th "${pin[@]}" "$OURS_PY" benchmarks/peers/ours_epoch.py \
        --set algorithm=pc --set model.name=pcn_mlp --set "model.hidden=[$HIDDEN]" --set model.activation=relu \
        --set data.name=fashion_mnist --set "data.root=$DATA" --set data.batch_size=$b --set data.train_size=$n \
        --set train.epochs=${OURS_EPOCHS:-1} ${OURS_EXTRA:-} --set train.optimizer=adam --set train.lr=$LR --set train.lr_scaling=none \
        --set pc.steps=$T --set pc.activity_lr=$ACT_LR --set pc.activity_momentum=0 --set ep.nudge=mse \
        --set seed=$rep --json --out "$work/ours-t$th-b$b-r$rep" --overwrite | tail -1)
      record analog_ep "$th" "$b" "$rep" "$load" "$line"
      load=$(cut -d' ' -f1 /proc/loadavg)
      echo "[$(date +%T)] threads $th batch $b rep $rep: pcx (load $load)" >&2
      line=$(OMP_NUM_THREADS=$th XLA_FLAGS="$(xla_flags "$th")" "${pin[@]}" "$PCX_PY" benchmarks/peers/pcx_mlp.py \
        --data "$DATA" --hidden "$HIDDEN" --batch "$b" --T "$T" --activity-lr "$ACT_LR" --lr "$LR" --act relu \
        --seed "$rep" | tail -1)
      record pcx "$th" "$b" "$rep" "$load" "$line"
    done
  done
done

python3 - "$runs" "$out" "$OURS_PY" "$PCX_PY" "$commit" <<'EOF'
import json, statistics, subprocess, sys, datetime, platform
runs_path, out, ours_py, pcx_py, commit = sys.argv[1:6]
runs = [json.loads(l) for l in open(runs_path)]

def sh(cmd):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()

def epoch(r):
    if r["side"] == "pcx":
        return r["result"]["epoch_seconds"]
    wall = r["result"].get("epoch_wall_seconds") or []
    # several epochs (OURS_EPOCHS, e.g. with compute.compile): the last one, after compilation
    return wall[-1] if len(wall) > 1 else r["result"]["seconds_per_epoch"]

def cpu_s(r):
    c = r["result"]["epoch_cpu_seconds"]
    return c[-1] if isinstance(c, list) else c

rows = []
for th in sorted({r["threads"] for r in runs}):
    for b in sorted({r["batch"] for r in runs}):
        sel = {s: [r for r in runs if r["side"] == s and r["threads"] == th and r["batch"] == b]
               for s in ("analog_ep", "pcx")}
        if not all(sel.values()):
            continue
        med = {s: statistics.median(epoch(r) for r in v) for s, v in sel.items()}
        cpu = {s: statistics.median(cpu_s(r) for r in v) for s, v in sel.items()}
        acc = {s: [r["result"]["test_accuracy"] for r in v] for s, v in sel.items()}
        rows.append({
            "threads": th, "omp_wait_policy": sel["pcx"][0].get("omp_wait_policy"),
            "pin_cpus": sel["pcx"][0].get("pin_cpus"), "batch": b, "train_images": 60000 // b * b, "runs_per_side": len(sel["pcx"]),
            "ours_epoch_s_median": med["analog_ep"], "pcx_epoch_s_median": med["pcx"],
            "ratio_ours_over_pcx": med["analog_ep"] / med["pcx"],
            "ours_epoch_s_all": [epoch(r) for r in sel["analog_ep"]], "pcx_epoch_s_all": [epoch(r) for r in sel["pcx"]],
            "ours_cpu_s_median": cpu["analog_ep"], "pcx_cpu_s_median": cpu["pcx"],
            "cpu_ratio_ours_over_pcx": cpu["analog_ep"] / cpu["pcx"],
            "pcx_compile_s_median": statistics.median(r["result"]["compile_seconds"] for r in sel["pcx"]),
            "ours_test_accuracy": acc["analog_ep"], "pcx_test_accuracy": acc["pcx"],
        })
pcx_versions = next((r["result"]["versions"] for r in runs if r["side"] == "pcx"), {})
ours_versions = next((r["result"]["versions"] for r in runs if r["side"] == "analog_ep"), {})
doc = {
    "what": "one PC training epoch (Fashion-MNIST, MLP 784-H-H-10 relu, T activity SGD steps, Adam on weights), "
            "analog-ep (torch) vs PCX (JAX); epoch seconds exclude data loading, evaluation and JAX compilation",
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "machine": {"lscpu": sh("lscpu | head -20"), "nproc": sh("nproc"), "platform": platform.platform()},
    "versions": {"analog_ep_git": commit, **ours_versions, **pcx_versions},
    "settings": next((r["result"]["settings"] for r in runs if r["side"] == "pcx"), {}),
    "summary": rows,
    "runs": runs,
}
with open(out, "w") as f:
    json.dump(doc, f, indent=1)
print(f"wrote {out}", file=sys.stderr)
for r in rows:
    print(f"threads {r['threads']} batch {r['batch']:4d}: ours {r['ours_epoch_s_median']:7.2f} s  "
          f"pcx {r['pcx_epoch_s_median']:7.2f} s  ratio {r['ratio_ours_over_pcx']:.2f}  "
          f"(cpu ratio {r['cpu_ratio_ours_over_pcx']:.2f})  acc ours {r['ours_test_accuracy']} pcx {r['pcx_test_accuracy']}")
EOF
