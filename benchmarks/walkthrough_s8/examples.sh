#!/bin/bash
# README example commands, as written except data.root / sizes / epochs for time. OMP_NUM_THREADS=1.
. /work/wt-W/.venv/bin/activate; export OMP_NUM_THREADS=1; cd /work/wt-W
R=/work/shared/data/fashion-mnist
S="--set data.train_size=128 --set data.test_size=64 --set train.epochs=1"
n=0
t(){ n=$((n+1)); echo "## [$n] $*"; timeout 400 "$@" > /tmp/W/ex_o.txt 2> /tmp/W/ex_e.txt; rc=$?; echo "rc=$rc tb=$(grep -c Traceback /tmp/W/ex_e.txt)"; head -2 /tmp/W/ex_o.txt | cut -c1-250; tail -1 /tmp/W/ex_o.txt | cut -c1-250; grep -v '^ ' /tmp/W/ex_e.txt | head -3 | cut -c1-250; }
t analog-ep train --set algorithm=bp $S --out /tmp/W/runs/ex_bp
t analog-ep train --set ep.estimator=one_sided --set ep.beta=0.1 --json $S --out /tmp/W/runs/ex_os
t analog-ep gradcheck --set model.hidden=[64] --betas 0.01,0.001,0.0001
t analog-ep gradcheck --set model.name=hopfield_resnet13 --set model.channels=[3,4,4,5] --set data.name=synthetic --set data.shape=[1,16,16] --betas 0.01,0.001 --batch 2
t analog-ep bench --set model.name=dchn_vgg5 --set model.channels=[32,64,64,64] --set data.name=synthetic --set data.shape=[3,32,32] --set data.batch_size=64 --json --repeats 2 --warmup 1
t analog-ep train --set model.name=pcn_vgg5 --set model.channels=[16,32,64,64] --set data.name=fashion_mnist --set data.root=$R --set data.train_size=256 --set data.test_size=128 --set train.epochs=1 --out /tmp/W/runs/ex_pcn_ep
t analog-ep train --set model.name=pcn_vgg5 --set algorithm=pc --set model.channels=[16,32,64,64] --set data.name=fashion_mnist --set data.root=$R --set data.train_size=256 --set data.test_size=128 --set train.epochs=1 --out /tmp/W/runs/ex_pcn_pc
t analog-ep devices list
t analog-ep devices show memristor
t analog-ep devices response memristor --pulses 100 --json
t analog-ep devices plot reram_es --out /tmp/W/reram_es.png
t analog-ep train --device devices/memristor.yaml $S --out /tmp/W/runs/ex_dev_path
t analog-ep train --device memristor --set device.dw_min_std=0.3 --set device.periphery.out_bits=6 $S --out /tmp/W/runs/ex_dev_over
t analog-ep train --device memristor --set analog.update=mixed $S --out /tmp/W/runs/ex_mixed
t analog-ep train --device memristor --set analog.pulse_scheme=bitstream --set train.momentum=0 $S --out /tmp/W/runs/ex_bitstream
t analog-ep train --device pcm --set analog.out_bits=8 --set analog.out_bound=20 --set analog.w_noise_std=0.02 $S --out /tmp/W/runs/ex_pcm
t analog-ep bench -c configs/hopfield_mlp_fmnist.yaml --device memristor --json --repeats 2 --warmup 1
t analog-ep cost --device memristor
t analog-ep deploy /tmp/W/runs/fmnist --device pcm --times 1,86400,31536000 --repeats 3
t analog-ep deploy /tmp/W/runs/fmnist --device memristor --set analog.out_bits=8 --out /tmp/W/runs/fmnist-8bit
t analog-ep report /tmp/W/runs/fmnist-8bit --json
t analog-ep report /tmp/W/runs/fmnist --json
t analog-ep train -c configs/dchn_vgg5_cifar10.yaml --set data.root=/nonexistent --accelerator cuda
t analog-ep bench -c configs/dchn_vgg5_cifar10.yaml --set data.name=synthetic --set data.shape=[3,32,32] --accelerator cuda
t analog-ep train --device memristor --set analog.relaxation=settle $S --out /tmp/W/runs/ex_settle --json
t analog-ep train --device memristor --set compute.kernels=numba $S --out /tmp/W/runs/ex_numba --json
t analog-ep train --set algorithm=rbp $S --out /tmp/W/runs/ex_rbp
t analog-ep gradcheck --set algorithm=rbp --set model.hidden=[16] --batch 4
t analog-ep gradcheck --set model.hidden=[16] --batch 4 --nudge-iters 10 --set solver.nudge_rtol=0.01
t analog-ep config --set model.name=pcn_vgg5
t analog-ep runs /tmp/W/runs
python -m analog_ep sweep configs/sweeps/digits_noise_adc.yaml --out /tmp/W/sw_check --set train.epochs=0 2>&1 | tail -1
