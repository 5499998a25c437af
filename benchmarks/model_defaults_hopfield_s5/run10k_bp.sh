#!/bin/bash
# Step 1, the BP twin at 10k images (started once the 2k run beside it ended: two runs at most).
cd /work/wt-C && . .venv/bin/activate && export OMP_NUM_THREADS=1
D=benchmarks/model_defaults_hopfield_s5
while kill -0 29124 2>/dev/null; do sleep 5; done
COMMON="--set model.name=dchn_vgg5 --set model.channels=[16,32,64,64] --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist --set data.train_size=10000 --set data.test_size=2000 --set train.epochs=2 --json"
echo "start bp $(date -u) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/run10k.log
/usr/bin/time -v analog-ep train $COMMON --set algorithm=bp --out runs_C/bp_10k > $D/defaults_10k_bp.json 2> $D/defaults_10k_bp.err
echo "end bp rc=$? $(date -u) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $D/run10k.log
