cd /work/wt-P && . .venv/bin/activate && export OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1
for rep in 1 2; do for p in fp32 fp64; do
  echo "=== rep $rep $p $(date -u +%H:%M:%S) load: $(uptime)"
  analog-ep train -c configs/dchn_vgg5_fmnist.yaml --accelerator cpu --set model.channels=[16,32,64,64] \
    --set data.root=/work/shared/data/fashion-mnist --set data.train_size=1000 --set data.test_size=1000 \
    --set train.epochs=1 --set compute.precision=$p --out /tmp/P_bench/$p-$rep --json 2>&1 | tail -1
  echo "=== end $(date -u +%H:%M:%S) load: $(uptime)"
done; done
