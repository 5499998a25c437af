#!/bin/bash
# session-11 helper A: the whole train command's CPU time (user + sys, the process and its children:
# start-up, data, model build, the epoch, evaluation, writes) beside the epoch's own seconds, base
# (/tmp/A_base, 78346f3) and branch (/work/wt-A), a fresh process each, 10k images, 1 epoch.
. /work/wt-A/.venv/bin/activate
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
O=/work/wt-A/benchmarks/speed_fmnist/raw; B=/tmp/A_base; N=/work/wt-A
for r in 1 2; do
  for t in $N $B; do
    for dev in "" "--device memristor"; do
      lab=s11Acpu_${r}_$(basename $t)_${dev:+memristor}
      cd $t
      line=$(PYTHONPATH=$t python -c "
import json, resource, subprocess, sys
cmd = ['analog-ep', 'train', '-c', 'configs/hopfield_mlp_fmnist.yaml', '--set', 'data.root=/work/shared/data/fashion-mnist',
       '--set', 'data.train_size=10000', '--set', 'data.test_size=1000', '--set', 'train.epochs=1', '--out', '/tmp/A_runs/$lab',
       '--json'] + sys.argv[1:]
out = subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[-1]
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
t = json.loads(out)
print(json.dumps({'command_cpu_s': round(ru.ru_utime + ru.ru_stime, 3), 'epoch_wall_s': round(t['seconds_per_epoch'], 3),
                  'test_accuracy': t['test_accuracy']}))
" $dev)
      echo "{\"tree\": \"$t\", \"label\": \"$lab\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"date\": \"$(date -u +%FT%TZ)\", \"res\": $line}" >> $O/cmdcpu_s11_epoch.jsonl
    done
  done
done
echo done > /tmp/A_out/cpu_done
