"""Where the residual of dchn_vgg5's analog free phase sits against the conv reads' noise floor
(session 11, issue 20, helper C). One Fashion-MNIST batch of 16, dchn_vgg5 32-64-64-64 at init,
memristor card, numba kernels; the asynchronous sweep as ``relax_async``'s generic sweep runs it,
40 sweeps from zeros. Per sweep: the median residual (max |s_new - s_old| over a sample's nodes),
its ratio to ``sqrt(2) sigma_max`` (``floor_threshold`` at z = 1, the per-sample largest read-noise
std of one sweep on a node) as median / min / max over the batch, the per-node ratio (each node's
largest change over its own ``sqrt(2) sigma_k``; medians over the batch), and the fraction of
nodes 1-4 strictly inside the clamp [0, 1] (the family default activation) (which the read noise moves).

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/speed_fmnist/s11_conv_floor.py [--set-like overrides]
"""
import math, torch, sys
from analog_ep.config import load_config
from analog_ep.train.loop import make_trainer
from analog_ep.solvers.base import floor_threshold
torch.set_num_threads(1)
cfg = load_config(None, ["model.name=dchn_vgg5","model.channels=[32,64,64,64]","data.name=fashion_mnist","data.root=/work/shared/data/fashion-mnist","data.batch_size=16","data.train_size=64","data.test_size=16","analog.device=memristor","compute.kernels=numba"] + sys.argv[1:])
tr = make_trainer(cfg, None)
m = tr.model
x, y = next(iter(tr.batches(tr.train_set, None)))
floors = m.read_floors(0.0)
# per node sigma (z=1 -> sqrt2 sigma) : build per-node thresholds
per_node = [floor_threshold([f], 1.0, "flat") for f in floors]
groups = m.colouring()
with torch.no_grad():
    m.begin_batch(); m.begin_phase("free")
    const = m.const_drive(x)
    s = m.zero_state(x.shape[0], x)
    for it in range(40):
        old = list(s)
        for g in groups:
            hs = [(k, m.drive(k, s, const, 0.0, None)) for k in g]
            for k, h in hs:
                s[k - 1] = m.node_update(k, h, 0.0, None)
        d = [(a - b).abs().reshape(a.shape[0], -1).amax(1) for a, b in zip(s, old)]
        r = torch.stack(d).amax(0)
        thr_all = torch.stack([pn(s) for pn in per_node])     # (nodes, B): sqrt2 sigma_k,b
        ratio_nodes = torch.stack(d) / thr_all
        ratio = r / thr_all.amax(0)
        if it % 3 == 0 or it > 30:
            print(it, "res med %.4f  res/(sqrt2 sig_max) med %.2f min %.2f max %.2f | per node med %s | active frac %s" % (
                r.median(), ratio.median(), ratio.min(), ratio.max(),
                [round(float(v), 2) for v in ratio_nodes.median(1).values],
                [round(float(((t > 0) & (t < 1)).float().mean()), 2) for t in s[:4]]))
