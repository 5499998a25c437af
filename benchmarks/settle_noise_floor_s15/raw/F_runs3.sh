#!/bin/bash
set -u
cd /work/wt-F && . .venv/bin/activate
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
C=/work/wt-F/configs/hopfield_mlp_fmnist.yaml; D="--set data.root=/work/shared/data/fashion-mnist"
T="--set data.train_size=1000 --set data.test_size=256 --set train.epochs=1 --json"
for tag in before after; do
  if [ $tag = before ]; then export PYTHONPATH=/tmp/F_before; cd /tmp; else unset PYTHONPATH; cd /work/wt-F; fi
  echo "== $tag settle start $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
  rm -rf /tmp/F_runs/settle_${tag}
  analog-ep train -c $C $D --device memristor --set analog.relaxation=settle --set analog.w_noise_std=0 \
      --set solver.stop=noise_floor $T --out /tmp/F_runs/settle_${tag} > /tmp/F_runs/settle_${tag}.json 2> /tmp/F_runs/settle_${tag}.err
  echo "rc=$? end $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
done
