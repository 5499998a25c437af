"""EP's gradient estimate of dchn_vgg5 on the memristor card with and without the read-noise floor
threshold (session 11, issue 20, helper C): does stopping on the conv reads' floor change the
estimate more than the read noise itself does?

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/speed_fmnist/s11_conv_grad.py [--ckpt CHECKPOINT] [Z ...]

One Fashion-MNIST batch (32 images), family defaults (60 free / 20 nudged sweeps, centered, beta 0.1),
the solver as training builds it (``build_solver``) with ``solver.noise_z`` 0 (patience test only:
the base's behaviour on conv models) and each Z. Each of ``R`` noise realizations (the storages'
batch counter moved on: other read-noise streams) runs every setting from the same weights and
states. Prints per weight tensor the cosine of the z run to the z=0 run of the same realization,
against the cosine of two z=0 runs of different realizations (the read noise's own spread), and
the batch sweeps per phase."""
import copy, itertools, sys

import torch

from analog_ep.algorithms.ep import ep_gradient
from analog_ep.config import load_config
from analog_ep.solvers.base import build_solver
from analog_ep.train.loop import make_trainer

torch.set_num_threads(1)
args = sys.argv[1:]
CKPT = None
if args[:1] == ["--ckpt"]:   # a trained model's weights (a train run's checkpoint.pt) instead of the init
    CKPT, args = args[1], args[2:]
ZS = [float(z) for z in args] or [4.0]
R = 3
base = ["model.name=dchn_vgg5", "model.channels=[32,64,64,64]", "data.name=fashion_mnist",
        "data.root=/work/shared/data/fashion-mnist", "data.batch_size=32", "data.train_size=64", "data.test_size=32",
        "analog.device=memristor", "compute.kernels=numba", "seed=0"]
tr = make_trainer(load_config(None, base), None)
if CKPT:
    tr.model.load_state_dict(torch.load(CKPT, weights_only=False, map_location="cpu")["model"])
x, y = next(iter(tr.batches(tr.train_set, None)))
target = torch.nn.functional.one_hot(y, 10).to(x.dtype)
cfg = tr.cfg
runs = {}
for z in [0.0] + ZS:
    solver = build_solver(load_config(None, base + [f"solver.noise_z={z}"]), "hopfield", 1)
    for r in range(R):
        model = copy.deepcopy(tr.model)
        for _ in range(r + 1):
            model.begin_batch()
        res = ep_gradient(model, x, target, model.zero_state(x.shape[0], x), solver, beta=cfg.ep.beta,
                          estimator=cfg.ep.estimator, free_iters=cfg.solver.free_iters,
                          nudge_iters=cfg.solver.nudge_iters, tol=cfg.solver.tol,
                          generator=torch.Generator().manual_seed(0))
        runs[z, r] = ([g.flatten() for g in res.grads], {k: s.sweeps for k, s in res.stats.items()})
        print(f"z={z} r={r} sweeps {runs[z, r][1]}", flush=True)
cos = lambda a, b: [round(float(torch.nn.functional.cosine_similarity(p, q, 0)), 4) for p, q in zip(a, b)]  # noqa: E731
for r, s in itertools.combinations(range(R), 2):
    print(f"noise: z=0 r={r} vs z=0 r={s}: cos per tensor {cos(runs[0.0, r][0], runs[0.0, s][0])}")
for z in ZS:
    for r in range(R):
        print(f"stop: z={z} vs z=0, r={r}: cos per tensor {cos(runs[z, r][0], runs[0.0, r][0])}")
