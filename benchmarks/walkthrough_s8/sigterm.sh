#!/bin/bash
. /work/wt-W/.venv/bin/activate; export OMP_NUM_THREADS=1; cd /tmp/W
for d in 18 22 25 28 31 34; do
  rm -rf /tmp/W/swt_$d
  analog-ep sweep specs/dig.yaml --out /tmp/W/swt_$d > /tmp/W/logs/swt_$d.out 2> /tmp/W/logs/swt_$d.err &
  pid=$!
  sleep $d; kill -TERM $pid; wait $pid; rc=$?
  echo "delay $d rc=$rc tmp=$(ls /tmp/W/swt_$d | grep -c tmp) stderr_lines=$(wc -l < /tmp/W/logs/swt_$d.err) tb=$(grep -c Traceback /tmp/W/logs/swt_$d.err)"
  tail -1 /tmp/W/logs/swt_$d.err | cut -c1-300
  python - "$d" <<'PY'
import sys, csv, h5py
d=sys.argv[1]; base=f"/tmp/W/swt_{d}"
import os
if os.path.exists(base+"/sweep.csv"):
    rows=list(csv.DictReader(open(base+"/sweep.csv")))
    with h5py.File(base+"/sweep.h5") as f:
        st=[s.decode() if isinstance(s,bytes) else s for s in f["status"][()]]
    print("csv", [r["status"] for r in rows]); print("h5 ", st, "same" if st==[r["status"] for r in rows] else "DIFFER")
else: print("no table")
PY
  analog-ep sweep specs/dig.yaml --out /tmp/W/swt_$d --json 2>/dev/null | tail -1 | cut -c1-200
done
