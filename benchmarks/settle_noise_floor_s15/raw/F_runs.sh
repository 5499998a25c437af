#!/bin/bash
# usage: F_runs.sh TAG [PYTHONPATH]
set -u
TAG=$1; PP=${2:-}
cd /work/wt-F && . .venv/bin/activate; [ -n "${2:-}" ] && cd /tmp
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
[ -n "$PP" ] && export PYTHONPATH=$PP
python -c "import analog_ep; print('analog_ep from', analog_ep.__file__)"
C=/work/wt-F/configs/hopfield_mlp_fmnist.yaml; D="--set data.root=/work/shared/data/fashion-mnist"
T="--set data.train_size=1000 --set data.test_size=256 --set train.epochs=1 --json"
for w in 0 0.02 0.05; do
  echo "== $TAG w=$w start $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
  rm -rf /tmp/F_runs/${TAG}_w$w
  analog-ep train -c $C $D --device memristor --set analog.relaxation=iterative --set analog.w_noise_std=$w \
      --set solver.stop=noise_floor $T --out /tmp/F_runs/${TAG}_w$w > /tmp/F_runs/${TAG}_w$w.json 2> /tmp/F_runs/${TAG}_w$w.err
  echo "rc=$? end $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
done
