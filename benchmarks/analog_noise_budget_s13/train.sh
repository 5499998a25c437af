# usage: I_train.sh NAME [extra --set ...]   (K2's protocol; raw output to the record's raw/ folder)
cd /work/wt-I && . .venv/bin/activate && export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
name=$1; shift
echo "# $name start $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) commit $(git rev-parse --short HEAD)"
echo "# analog-ep train --set model.name=dchn_vgg5 --set model.channels=[32,64,64,64] --set data.name=fashion_mnist --set data.root=/work/shared/data/fashion-mnist --set compute.kernels=numba --set data.train_size=2000 --set data.test_size=1000 --set train.epochs=2 $* --out /tmp/I_runs/$name --json"
analog-ep train --set model.name=dchn_vgg5 --set model.channels=[32,64,64,64] --set data.name=fashion_mnist \
  --set data.root=/work/shared/data/fashion-mnist --set compute.kernels=numba --set data.train_size=2000 \
  --set data.test_size=1000 --set train.epochs=2 "$@" --out /tmp/I_runs/$name --json 2>&1
echo "# $name end $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
