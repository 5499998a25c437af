#!/bin/bash
# probe_run.sh TAG STEPS [--set k=v ...]: twin_probe.py with its JSON lines to raw/probe_TAG.jsonl;
# start/end, commit and load to commands.txt
tag=$1; steps=$2; shift 2
cd "$(dirname "$0")/../.." && . .venv/bin/activate && export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
rec=benchmarks/model_defaults_crnn_s13
echo "$(date -u +%FT%TZ) $(git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg): probe_$tag: python $rec/twin_probe.py $tag $steps $*" >> $rec/commands.txt
python $rec/twin_probe.py $tag $steps "$@" > $rec/raw/probe_$tag.jsonl 2> /tmp/E13/probe_$tag.err
echo "$(date -u +%FT%TZ) end probe_$tag rc=$? load $(cut -d' ' -f1-3 /proc/loadavg)" >> $rec/commands.txt
