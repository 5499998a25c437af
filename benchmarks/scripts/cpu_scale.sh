#!/usr/bin/env bash
# CPU figures of the scale-out issue: torchrun with 2 gloo ranks against 1 process (same global
# batch), digital and memristor; then the solvers' convergence checks every sweep vs every 8.
# Usage: bash benchmarks/scripts/cpu_scale.sh OUTDIR   (writes OUTDIR/cpu_scale.jsonl)
set -eu
OUT=${1:-/tmp/cpu_scale}; rm -rf "$OUT"; mkdir -p "$OUT"
AEP=${AEP:-analog-ep}; PY=${PY:-python}
ARGS="--set data.name=fashion_mnist --set data.root=../shared/data/fashion-mnist --set data.train_size=6000 --set data.test_size=2000 --set model.hidden=[500] --set data.batch_size=64 --set train.epochs=2 --set solver.check_every=8"
for dev in digital memristor; do
  D=""; [ $dev = memristor ] && D="--device memristor"
  OMP_NUM_THREADS=2 $AEP train $ARGS $D --out "$OUT/$dev-1" --json | tail -1 > "$OUT/$dev-1.json"
  OMP_NUM_THREADS=1 $PY -m torch.distributed.run --nnodes 1 --nproc_per_node 2 --master_addr 127.0.0.1 --master_port 29517 \
      -m analog_ep train $ARGS $D --out "$OUT/$dev-2" --json 2>/dev/null | tail -1 > "$OUT/$dev-2.json"
  $PY - "$OUT" $dev <<'PY'
import json, sys, torch
out, dev = sys.argv[1], sys.argv[2]
a = torch.load(f"{out}/{dev}-1/checkpoint.pt", weights_only=True)["model"]
b = torch.load(f"{out}/{dev}-2/checkpoint.pt", weights_only=True)["model"]
diff = max(float((a[k].double() - b[k].double()).abs().max()) for k in a if torch.is_tensor(a[k]))
r1, r2 = (json.load(open(f"{out}/{dev}-{n}.json")) for n in (1, 2))
row = {"case": f"gloo_{dev}", "max_abs_weight_diff": diff, "test_accuracy_1proc": r1["test_accuracy"],
       "test_accuracy_2proc": r2["test_accuracy"], "seconds_per_epoch_1proc_2threads": r1["seconds_per_epoch"],
       "seconds_per_epoch_2proc_1thread": r2["seconds_per_epoch"],
       "speedup": r1["seconds_per_epoch"] / r2["seconds_per_epoch"]}
print(json.dumps(row)); open(f"{out}/cpu_scale.jsonl", "a").write(json.dumps(row) + "\n")
PY
done
# sync-free relaxation on CPU: one process, the same EP steps with a convergence check after every
# sweep (1) and every 8 sweeps (8), interleaved, full budget (tol 0: the checks never stop early,
# so both run the same sweeps and only the checks' cost differs)
for i in 1 2 3; do
  for k in 1 8; do
    OMP_NUM_THREADS=1 $AEP bench --set model.hidden=[256] --set solver.tol=0 --set solver.check_every=$k --repeats 40 --json \
      | tail -1 | $PY -c "import json,sys; d=json.load(sys.stdin); r={'case': 'check_every', 'check_every': d['check_every'], 'ep_step_s': d['ep_step_s'], 'round': $i}; print(json.dumps(r)); open('$OUT/cpu_scale.jsonl','a').write(json.dumps(r)+'\n')"
  done
done
