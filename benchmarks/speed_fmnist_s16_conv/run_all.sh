#!/bin/bash
# The session-16 sequence (helper B), one process at a time, normal priority: bench rows (a) default stopping and
# (b) full budget; whole epochs digital / analog / digital; then, if it is before 16:20 UTC, bench rows (c)-(e).
D=$(cd "$(dirname "$0")" && pwd); R=$D/raw
$D/run_bench.sh $R/bench.jsonl a_default
$D/run_bench.sh $R/bench.jsonl b_full --set solver.tol=0 --set solver.stop=tol
$D/run_epoch.sh $R/epoch.jsonl dig_1
$D/run_epoch.sh $R/epoch.jsonl ana_1 --device memristor --set analog.out_noise_std=0 --set analog.inp_bits=12 --set analog.out_bits=13
$D/run_epoch.sh $R/epoch.jsonl dig_2
late() { [ $(date -u +%H%M) -ge 1620 ]; }
late || $D/run_bench.sh $R/bench.jsonl c_mixed --set analog.update=mixed
late || $D/run_bench.sh $R/bench.jsonl d_torch --set compute.kernels=torch
late || $D/run_bench.sh $R/bench.jsonl e_settle --set analog.relaxation=settle --repeats 1 --warmup 1
echo done $(date -u +%T)
