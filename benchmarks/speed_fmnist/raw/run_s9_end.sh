#!/bin/bash
# session-9 end figures: base f62d005 (/work/meas0) vs merged main 07925f3 (/work/meas), one process at a time
. /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 MODES=numba
O=/work/measout
for args in "" "solver.tol=0 solver.stop=tol"; do
  for t in meas0 meas meas0 meas; do
    cd /work/$t
    line=$(PYTHONPATH=/work/$t python benchmarks/speed_fmnist/ab.py --reps 8 $args 2>/dev/null | tail -1)
    echo "{\"tree\": \"$t\", \"commit\": \"$(git rev-parse --short HEAD)\", \"args\": \"$args\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"date\": \"$(date -u +%FT%TZ)\", \"ab\": $line}" >> $O/ab.jsonl
  done
done
for t in meas0 meas; do
  KERNELS=numba ROWS="full_budget default mixed_full mixed_default" bash /work/meas/benchmarks/speed_fmnist/run_bench.sh /work/$t $O/bench.jsonl
done
for t in meas meas0; do
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/$t $O/epochs.jsonl s9_${t}_digital
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/$t $O/epochs.jsonl s9_${t}_memristor --device memristor
done
echo done >> $O/done
#!/bin/bash
. /work/main/.venv/bin/activate
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 MODES=numba
O=/work/measout
while [ ! -f $O/done ]; do sleep 5; done
cd /work/meas
for i in 1 2; do
  line=$(PYTHONPATH=/work/meas python benchmarks/speed_fmnist/ab.py --reps 8 solver.noise_patience=2 2>/dev/null | tail -1)
  echo "{\"tree\": \"meas\", \"commit\": \"$(git rev-parse --short HEAD)\", \"args\": \"solver.noise_patience=2\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"date\": \"$(date -u +%FT%TZ)\", \"ab\": $line}" >> $O/ab.jsonl
done
B="--set data.root=/work/shared/data/fashion-mnist --set data.train_size=640 --set data.test_size=64"
for i in 1 2; do
  line=$(PYTHONPATH=/work/meas analog-ep bench -c configs/hopfield_mlp_fmnist.yaml --device memristor $B --set solver.noise_patience=2 --set compute.kernels=numba --repeats 10 --json 2>/dev/null | tail -1)
  echo "{\"tree\": \"/work/meas\", \"commit\": \"07925f3\", \"label\": \"default_patience2\", \"kernels\": \"numba\", \"load\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"date\": \"$(date -u +%FT%TZ)\", \"bench\": $line}" >> $O/bench.jsonl
done
bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/meas $O/epochs.jsonl s9_meas_memristor_p2 --device memristor --set solver.noise_patience=2
echo done >> $O/done2
#!/bin/bash
. /work/main/.venv/bin/activate
O=/work/measout
while [ ! -f $O/done2 ]; do sleep 5; done
for r in 1 2; do
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/meas $O/epochs_warm.jsonl s9w${r}_meas_digital
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/meas $O/epochs_warm.jsonl s9w${r}_meas_memristor --device memristor
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/meas $O/epochs_warm.jsonl s9w${r}_meas_memristor_p2 --device memristor --set solver.noise_patience=2
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/meas0 $O/epochs_warm.jsonl s9w${r}_meas0_memristor --device memristor
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/meas $O/epochs_warm.jsonl s9w${r}_meas_memristor_full --device memristor --set solver.tol=0 --set solver.stop=tol
  bash /work/meas/benchmarks/speed_fmnist/run_epochs.sh /work/meas $O/epochs_warm.jsonl s9w${r}_meas_digital_full --set solver.tol=0 --set solver.stop=tol
done
echo done >> $O/done3
