#!/bin/bash
# usage: benchmarks/rng_state_s17/repro.sh OUTROOT TREE
# Two runs of each of three small `analog-ep train` commands with the analog_ep code in TREE (a
# checkout or a `git archive` export; run from the venv of this repository), then every entry of
# the two checkpoints compared (cmp.py). Session 17, task N (benchmarks/rng_state_s17.md).
HERE=$(cd "$(dirname "$0")" && pwd)
export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
R=$1; export ANALOG_EP_TREE=$2; mkdir -p "$R"
C="--set model.name=dchn_vgg5 --set model.channels=[16,32,64,64] --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist --set data.train_size=256 --set data.test_size=128 --set train.epochs=2 --set compute.kernels=numba"
run() { tag=$1; shift; for i in 1 2; do nice -n 10 python "$HERE/tree_cli.py" train "$@" --out "$R/$tag$i" --overwrite --json > "$R/$tag$i.log" 2>&1; echo "$tag$i rc=$?"; done; echo "== $tag"; python "$HERE/cmp.py" "$R/${tag}1/checkpoint.pt" "$R/${tag}2/checkpoint.pt"; }
echo "start $(date -u +%FT%TZ) load: $(uptime | sed 's/.*average: //') tree $2 commit $(cd "$2" && git log --oneline -1 2>/dev/null)"
run hop --set train.epochs=2
run vgg $C
run vggmem $C --device memristor
echo "end $(date -u +%FT%TZ) load: $(uptime | sed 's/.*average: //')"
