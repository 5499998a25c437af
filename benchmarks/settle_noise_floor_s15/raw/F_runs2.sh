#!/bin/bash
set -u
cd /work/wt-F && . .venv/bin/activate
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
C=/work/wt-F/configs/hopfield_mlp_fmnist.yaml; D="--set data.root=/work/shared/data/fashion-mnist"
T="--set data.train_size=10000 --set data.test_size=10000 --set train.epochs=3 --json"
for tag in before after; do
  if [ $tag = before ]; then export PYTHONPATH=/tmp/F_before; cd /tmp; else unset PYTHONPATH; cd /work/wt-F; fi
  echo "== $tag 10k w=0.05 start $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
  rm -rf /tmp/F_runs/big_${tag}_w0.05
  analog-ep train -c $C $D --device memristor --set analog.relaxation=iterative --set analog.w_noise_std=0.05 \
      --set solver.stop=noise_floor $T --out /tmp/F_runs/big_${tag}_w0.05 > /tmp/F_runs/big_${tag}_w0.05.json 2> /tmp/F_runs/big_${tag}_w0.05.err
  echo "rc=$? end $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
done
