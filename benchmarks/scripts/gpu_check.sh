#!/usr/bin/env bash
# Every GPU figure of the scale-out issue in one run (benchmarks/gpu.md says how to read them).
# Usage: OUT=folder bash benchmarks/scripts/gpu_check.sh   (SMOKE=1: tiny sizes, runs on a CPU)
# Writes $OUT/gpu_check.jsonl (one JSON object per case, appended as each finishes, so a run cut
# short keeps what it measured) and $OUT/gpu_env.txt. Each case is one `analog-ep bench --json`
# or `analog-ep gradcheck --json` call: the project's own commands, the training code path.
set -u
OUT=${OUT:-benchmarks/gpu_out}
mkdir -p "$OUT"
LOG="$OUT/gpu_check.jsonl"
ACC=${ACC:-cuda}
REP=${REP:-5}
CASE_TIMEOUT=${CASE_TIMEOUT:-240}
AEP=${AEP:-analog-ep}
{ date -u; nvidia-smi 2>/dev/null || echo "no nvidia-smi"; python -c "import torch; print(torch.__version__, torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"; } > "$OUT/gpu_env.txt" 2>&1

if [ "${SMOKE:-0}" = 1 ]; then
  ACC=${ACC_SMOKE:-cpu}; REP=1
  VGG="--set model.channels=[8,16,16,16] --set data.batch_size=8 --set solver.free_iters=3 --set solver.nudge_iters=2"
  RES="--set model.channels=[8,8,16,16] --set data.batch_size=4 --set solver.free_iters=3 --set solver.nudge_iters=2"
  PCN="--set model.channels=[4,4,8,8,8,8,8,8] --set data.shape=[3,64,64] --set data.batch_size=2 --set solver.nudge_iters=2"
else
  VGG="--set model.channels=[128,256,512,512] --set data.batch_size=128 --set solver.free_iters=60 --set solver.nudge_iters=20"
  RES="--set data.batch_size=128"
  PCN="--set data.shape=[3,224,224] --set data.batch_size=64"
fi
SYN32="--set data.name=synthetic --set data.shape=[3,32,32] --set data.train_size=256 --set data.test_size=16 --set data.augment=[]"

run() {  # run NAME CMD...: one JSON line {"case": NAME, "rc": rc, "result": {...}}
  local name=$1; shift
  local t0=$(date +%s)
  local res
  local rc
  res=$(timeout "$CASE_TIMEOUT" "$@" 2>"$OUT/$name.err" | tail -n 1; exit "${PIPESTATUS[0]}")
  rc=$?
  [ -z "$res" ] && res=null
  echo "{\"case\": \"$name\", \"rc\": $rc, \"wall_s\": $(( $(date +%s) - t0 )), \"result\": $res}" >> "$LOG"
  echo "$name rc=$rc $(( $(date +%s) - t0 ))s"
}

# 1. dchn_vgg5 128-256-512-512, 32x32, batch 128, centered EP 60 free / 2 x 20 nudged (full budget):
#    EP images/s and EP step / BP step, per read precision; convergence checks every 1 vs 8 sweeps
for prec in fp32 tf32 bf16; do
  run "dchn_vgg5_$prec" $AEP bench -c configs/dchn_vgg5_cifar10.yaml $SYN32 $VGG --set solver.tol=0 \
      --set compute.precision=$prec --accelerator $ACC --repeats $REP --warmup 2 --json
done
run "dchn_vgg5_tol_check1" $AEP bench -c configs/dchn_vgg5_cifar10.yaml $SYN32 $VGG --set solver.tol=1e-4 \
    --set solver.check_every=1 --accelerator $ACC --repeats $REP --warmup 2 --json
run "dchn_vgg5_tol_check8" $AEP bench -c configs/dchn_vgg5_cifar10.yaml $SYN32 $VGG --set solver.tol=1e-4 \
    --set solver.check_every=8 --accelerator $ACC --repeats $REP --warmup 2 --json
# 2. hopfield_resnet13 full width: seconds per EP step (x 391 steps = a CIFAR-10 epoch of 50k at batch 128)
run "resnet13_fp32" $AEP bench -c configs/hopfield_resnet13_cifar10.yaml $SYN32 $RES --accelerator $ACC \
    --repeats $REP --warmup 1 --json
# 3. analog (memristor card) over digital EP step, both models
run "dchn_vgg5_memristor" $AEP bench -c configs/dchn_vgg5_cifar10.yaml $SYN32 $VGG --set solver.tol=0 \
    --device memristor --accelerator $ACC --repeats $REP --warmup 1 --json
run "resnet13_memristor" $AEP bench -c configs/hopfield_resnet13_cifar10.yaml $SYN32 $RES --device memristor \
    --accelerator $ACC --repeats $REP --warmup 1 --json
# 4. pcn_vgg10 at 224x224: EP step / BP step (and PC step)
run "pcn_vgg10_224" $AEP bench -c configs/pcn_vgg10_imagenet.yaml --set data.name=synthetic --set data.num_classes=1000 \
    --set data.train_size=128 --set data.test_size=8 --set data.augment=[] $PCN --accelerator $ACC --repeats $REP --warmup 1 --json
# 5. gradcheck per read precision on the GPU (small MLP on digits: reference by implicit differentiation)
for prec in fp32 tf32 bf16; do
  run "gradcheck_$prec" $AEP gradcheck --set compute.precision=$prec --betas 0.05,0.01,0.001 --tol 1e-6 \
      --iters 500 --accelerator $ACC --json
done
echo "wrote $LOG"
