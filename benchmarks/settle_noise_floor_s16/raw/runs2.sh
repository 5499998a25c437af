#!/bin/bash
# usage: runs2.sh TAG SRC W : the s15 protocol (beta 0.3, one-epoch warm-up) at 4,000 / 1,000 images, 2 epochs
set -u
TAG=$1; SRC=$2; W=$3
. /work/wt-C/.venv/bin/activate
cd /tmp
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=$SRC
python -c "import analog_ep; print('analog_ep from', analog_ep.__file__)"
echo "== $TAG w=$W start $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf /tmp/C_runs/L_${TAG}_w$W
nice -n 10 analog-ep train --set model.name=dchn_vgg5 --set model.channels=[16,32,64,64] \
  --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist \
  --set data.train_size=4000 --set data.test_size=1000 --set train.epochs=2 --set seed=0 --set ep.beta=0.3 \
  --set train.schedule=warmup_cosine --set train.warmup_epochs=1 \
  --device memristor --set analog.w_noise_std=$W --json --out /tmp/C_runs/L_${TAG}_w$W \
  > /tmp/C_runs/L_${TAG}_w$W.json 2> /tmp/C_runs/L_${TAG}_w$W.err
echo "rc=$? end $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
