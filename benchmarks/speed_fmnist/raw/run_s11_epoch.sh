#!/bin/bash
# session-11 helper A: whole-epoch accounting, base (git archive of 78346f3 in /tmp/A_base) against
# the branch (/work/wt-A), one process at a time, one thread, numba kernels.
. /work/wt-A/.venv/bin/activate
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
O=/work/wt-A/benchmarks/speed_fmnist/raw; B=/tmp/A_base; N=/work/wt-A
# 1. bit identity: a short run (1280 images, 20 steps) per tree and rule; digest of the trained state
for t in $B $N; do
  for dev in "" "--device memristor"; do
    lab=sha_$(basename $t)_${dev:+memristor}
    rm -rf /tmp/A_runs/$lab
    (cd $t && PYTHONPATH=$t analog-ep train -c configs/hopfield_mlp_fmnist.yaml --set data.root=/work/shared/data/fashion-mnist \
      --set data.train_size=1280 --set data.test_size=256 --set train.epochs=1 --out /tmp/A_runs/$lab $dev --json > /dev/null 2>&1)
    PYTHONPATH=$t python $N/benchmarks/speed_fmnist/weights_sha.py /tmp/A_runs/$lab "$lab $(git -C $t rev-parse --short HEAD 2>/dev/null || echo 78346f3)" >> $O/sha_s11_epoch.jsonl
  done
done
# 2. parts of a whole 10k epoch, warmed (steady state) and cold (a fresh process's first epoch), CPU clock
for r in 1 2; do
  for t in $B $N; do
    (cd $t && PYTHONPATH=$t python $N/benchmarks/speed_fmnist/epoch_parts.py --clock cpu --rounds 2 | tail -1 | \
      sed "s|^|{\"tree\": \"$t\", \"kind\": \"warm\", \"date\": \"$(date -u +%FT%TZ)\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"res\": |; s|$|}|") >> $O/parts_s11_epoch.jsonl
    (cd $t && PYTHONPATH=$t python $N/benchmarks/speed_fmnist/epoch_parts.py --cold --clock cpu --rounds 1 | head -2 | \
      sed "s|^|{\"tree\": \"$t\", \"kind\": \"cold\", \"date\": \"$(date -u +%FT%TZ)\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"res\": |; s|$|}|") >> $O/parts_s11_epoch.jsonl
  done
done
# 3. whole 10k epochs as train runs them (run_epochs.sh: a fresh process each, wall seconds)
for r in 1 2; do
  for t in $N $B; do
    bash $N/benchmarks/speed_fmnist/run_epochs.sh $t $O/epochs_s11_epoch.jsonl s11A_${r}_$(basename $t)_digital
    bash $N/benchmarks/speed_fmnist/run_epochs.sh $t $O/epochs_s11_epoch.jsonl s11A_${r}_$(basename $t)_memristor --device memristor
  done
done
# 4. the checkpoint + results write after each epoch (fit; outside the epoch's seconds)
for t in $B $N; do
  (cd $t && PYTHONPATH=$t python $N/benchmarks/speed_fmnist/save_parts.py | sed "s|^|{\"tree\": \"$t\", \"res\": |; s|$|}|") >> $O/save_s11_epoch.jsonl
done
echo done > /tmp/A_out/meas_done
