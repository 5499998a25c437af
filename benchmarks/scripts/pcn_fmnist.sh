#!/usr/bin/env bash
# Predictive coding figures on Fashion-MNIST (CPU, reduced widths, a 10k training subset, the full
# 10k test set): EP vs its backprop twin on pcn_vgg5, PC vs PC with spiking precision + forward
# updates + BatchNorm freezing on pcn_vgg10, pcn_vgg5 EP and PC on the memristor card.
# Usage (repository root): bash benchmarks/scripts/pcn_fmnist.sh OUT_DIR queue1|queue2|analog|analogpc|vgg15|vgg15q|vgg15q2|vgg15q3|vgg10q
set -euo pipefail
OUT=${1:-/tmp/pcnb}; Q=${2:-queue1}
export OMP_NUM_THREADS=1
FM="--set data.name=fashion_mnist --set data.root=../shared/data/fashion-mnist --set data.test_size=10000"
V5="--set model.name=pcn_vgg5 --set model.channels=[16,32,64,64] --set data.batch_size=32 --set train.lr_scaling=none
    --set train.lr=0.05 --set train.momentum=0.9 --set train.nesterov=true --set train.weight_decay=3e-4
    --set ep.beta=0.02 --set solver.nudge_iters=5 --set train.epochs=3"
V10="--set model.name=pcn_vgg10 --set model.channels=[16,32,32,32,64,64,64,64] --set model.init_fan=fan_in
     --set model.activation=gelu --set ep.nudge=cross_entropy --set data.batch_size=64 --set train.lr_scaling=none
     --set train.optimizer=adamw --set train.lr=0.001 --set train.epochs=3 --set data.train_size=10000"
V15="--set model.name=pcn_vgg15 --set model.channels=[8,8,16,16,32,32,32,64,64,64,64,64,64] --set model.init_fan=fan_in
     --set model.activation=gelu --set ep.nudge=cross_entropy --set data.batch_size=64 --set train.lr_scaling=none
     --set train.optimizer=adamw --set train.lr=0.001 --set train.epochs=3 --set data.train_size=10000"
PC="--set algorithm=pc --set pc.steps=16 --set pc.activity_lr=0.05 --set pc.activity_momentum=0.5"
run() { name=$1; shift; python -m analog_ep train $FM "$@" --out "$OUT/$name" --overwrite --json > "$OUT/$name.json" 2> "$OUT/$name.log" || echo "$name failed" >> "$OUT/failed"; }
mkdir -p "$OUT"
if [ "$Q" = queue1 ]; then
  run vgg5_bp $V5 --set algorithm=bp --set data.train_size=10000
  run vgg5_ep $V5 --set algorithm=ep --set data.train_size=10000
  run vgg5_ep_5k $V5 --set algorithm=ep --set data.train_size=5000
  run vgg5_ep_5k_memristor $V5 --set algorithm=ep --set data.train_size=5000 --device memristor
elif [ "$Q" = queue2 ]; then
  run vgg10_bp $V10 --set algorithm=bp
  run vgg10_pc $V10 $PC
  run vgg10_pc_sfbf $V10 $PC --set model.batchnorm=true --set pc.bn_freeze=true --set pc.precision=spiking --set pc.forward_update=true
  run vgg10_bp_bn $V10 --set algorithm=bp --set model.batchnorm=true
fi
P15="--set algorithm=pc --set pc.steps=21 --set pc.activity_lr=0.05 --set pc.activity_momentum=0.5"
if [ "$Q" = vgg15 ]; then
  # the deepest layout (13 convs + 2 dense, narrow): T = 21 activity steps (Qi et al.: VGG15 15-21)
  P15="--set algorithm=pc --set pc.steps=21 --set pc.activity_lr=0.05 --set pc.activity_momentum=0.5"
  run vgg15_bp $V15 --set algorithm=bp
  run vgg15_pc $V15 $P15
  run vgg15_pc_sfbf $V15 $P15 --set model.batchnorm=true --set pc.bn_freeze=true --set pc.precision=spiking --set pc.forward_update=true
  run vgg15_bp_bn $V15 --set algorithm=bp --set model.batchnorm=true
  run vgg15_pc_s $V15 $P15 --set pc.precision=spiking
  run vgg15_pc_bn $V15 $P15 --set model.batchnorm=true --set pc.bn_freeze=true
fi
if [ "$Q" = vgg15q ] || [ "$Q" = vgg15q2 ] || [ "$Q" = vgg15q3 ]; then
  # the same six-way comparison with activity settings in the range of Qi et al.'s tuned configs
  # (activity SGD lr 0.13-0.67, momentum 0.5-1.0): lr 0.5, momentum 0.9
  Q15="--set algorithm=pc --set pc.steps=21 --set pc.activity_lr=0.5 --set pc.activity_momentum=0.9"
  SFBF="--set model.batchnorm=true --set pc.bn_freeze=true --set pc.precision=spiking --set pc.forward_update=true"
  if [ "$Q" = vgg15q ]; then
    run vgg15q_pc_sfbf $V15 $Q15 $SFBF
    run vgg15q_pc $V15 $Q15
    run vgg15q_pc_bn $V15 $Q15 --set model.batchnorm=true --set pc.bn_freeze=true
  elif [ "$Q" = vgg15q3 ]; then  # pairs of the fixes
    run vgg15q_pc_sbf $V15 $Q15 --set model.batchnorm=true --set pc.bn_freeze=true --set pc.precision=spiking
    run vgg15q_pc_fbf $V15 $Q15 --set model.batchnorm=true --set pc.bn_freeze=true --set pc.forward_update=true
  else
    run vgg15q_pc_s $V15 $Q15 --set pc.precision=spiking
    run vgg15_pc_sfbf_fixed $V15 $P15 $SFBF   # the lr 0.05 setting again, after the BatchNorm fix
  fi
fi
if [ "$Q" = vgg10q ]; then
  # pcn_vgg10 (queue2's network) at the activity settings of vgg15q
  Q10="--set algorithm=pc --set pc.steps=16 --set pc.activity_lr=0.5 --set pc.activity_momentum=0.9"
  run vgg10q_pc_sfbf $V10 $Q10 --set model.batchnorm=true --set pc.bn_freeze=true --set pc.precision=spiking --set pc.forward_update=true
  run vgg10q_pc $V10 $Q10
fi
if [ "$Q" = analogpc ]; then
  # pcn_vgg5 trained by PC (T = 8 activity steps, lr 0.1; 0.5 diverged in epoch 2) digitally and on the memristor card
  # (fresh read noise on every read, the card's default), same optimizer and data as "analog"
  A="$V5 --set algorithm=pc --set pc.steps=8 --set pc.activity_lr=0.1 --set data.train_size=5000 --set train.epochs=2"
  run vgg5_pc_5k $A
  run vgg5_pc_5k_memristor $A --device memristor
  run vgg5_pc_5k_memristor_perbatch $A --device memristor --set analog.noise_policy=per_batch
fi
if [ "$Q" = analog ]; then
  # on the memristor card (aihwkit-default periphery): beta 0.2 and one read-noise draw per
  # mini-batch (analog.noise_policy per_batch), so the +beta and -beta phases see the same noise
  # and the centered difference cancels it; the digital run beside it uses the same beta
  A="$V5 --set algorithm=ep --set data.train_size=5000 --set train.epochs=2 --set ep.beta=0.2"
  run vgg5_ep_5k_b02 $A
  run vgg5_ep_5k_b02_memristor $A --device memristor --set analog.noise_policy=per_batch
fi
