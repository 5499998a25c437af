#!/bin/bash
# Resume a stopped dchn run: dchn_resume.sh NAME (its --json line -> dchn_NAME.resume.json)
cd /work/wt-B && . .venv/bin/activate && export OMP_NUM_THREADS=1
D=benchmarks/model_defaults_hopfield_s7
NAME=dchn_$1
echo "resume $NAME $(date -u +%H:%M:%S) commit $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/dchn_runs.log
/usr/bin/time -v analog-ep train --resume /tmp/B/runs/$NAME --json > $D/$NAME.resume.json 2> $D/$NAME.resume.err
echo "end $NAME (resumed) rc=$? $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/dchn_runs.log
