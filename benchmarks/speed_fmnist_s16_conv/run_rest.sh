#!/bin/bash
# The rest of run_all.sh after its first epoch (session 16, helper B): the load (8-9 on 2 cores) made an epoch ~35 min
# wall, so the second digital epoch runs only if it can end before 16:45 UTC (started before 16:08), and the
# bench rows (c)-(e) only if started before 16:20. Usage: run_rest.sh PID (the first epoch's launcher, waited for).
D=$(cd "$(dirname "$0")" && pwd); R=$D/raw
while kill -0 $1 2>/dev/null; do sleep 5; done
$D/run_epoch.sh $R/epoch.jsonl ana_1 --device memristor --set analog.out_noise_std=0 --set analog.inp_bits=12 --set analog.out_bits=13
before() { [ $(date -u +%H%M) -lt $1 ]; }
if before 1608; then $D/run_epoch.sh $R/epoch.jsonl dig_2; fi
before 1620 && $D/run_bench.sh $R/bench.jsonl c_mixed --set analog.update=mixed
before 1620 && $D/run_bench.sh $R/bench.jsonl d_torch --set compute.kernels=torch
before 1620 && $D/run_bench.sh $R/bench.jsonl e_settle --set analog.relaxation=settle --repeats 1 --warmup 1
echo done $(date -u +%T)
