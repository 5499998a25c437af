#!/bin/bash
# usage: L_train.sh NAME SEED [--device memristor]   (runs the frozen copy /tmp/L_src of commit 0ff8af8)
cd /tmp/L_src && . /work/wt-L/.venv/bin/activate && export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
name=$1; seed=$2; shift 2
cmd="analog-ep train --set model.name=dchn_vgg5 --set model.channels=[32,64,64,64] --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist --set compute.kernels=numba --set data.train_size=10000 --set data.test_size=2000 --set train.epochs=2 --set seed=$seed --set ep.beta=0.3 $* --out /tmp/L_runs/$name --json"
echo "# $name start $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) commit 0ff8af8 (frozen copy /tmp/L_src, python -m analog_ep)"
echo "# $cmd"
/usr/bin/time -f "# time user_s sys_s wall_s: %U %S %e" python -m analog_ep ${cmd#analog-ep } 2>&1
echo "# $name end $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
