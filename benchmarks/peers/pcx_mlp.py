"""One epoch of predictive coding (PC) training of an MLP on Fashion-MNIST with PCX.

The peer side of benchmarks/pc_vs_pcx.md: the same network, data, energy and optimizers as

    analog-ep train --set algorithm=pc --set model.name=pcn_mlp ...

written the way PCX's own examples write a PC classifier (pcx 0.6.x API): vodes with the default
squared-error energy, the output vode frozen and clamped to the one-hot label, ``T`` activity
steps of plain SGD (optax) on the energy summed over the batch (each sample's activities get
their own gradient), then one optax weight step on the batch-mean gradient
(``scale_by=1/batch``), all inside one ``pxf.jit``-compiled train step.

Not part of the analog_ep package: run it with the separate PCX environment, e.g.

    python3 -m venv /tmp/pcxenv && /tmp/pcxenv/bin/pip install pcx
    OMP_NUM_THREADS=1 XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \\
        /tmp/pcxenv/bin/python benchmarks/peers/pcx_mlp.py --data /work/shared/data/fashion-mnist

It prints one JSON line: epoch_seconds (one pass over the training images in floor(60000 / batch)
full batches: shuffling, batch gathering and the compiled train steps; no data loading, no
compilation), epoch_cpu_seconds (the process CPU time of that pass, all threads),
compile_seconds (the first call of the jitted train step minus a second, steady-state call),
first_step_seconds (the timed epoch's first step: a recompilation would show here),
test_accuracy (10k test images after the epoch), the settings and the versions.
``intra_op_parallelism_threads`` above is not an XLA flag (XLA stops reading XLA_FLAGS there, so
keep it last); ``--xla_cpu_multi_thread_eigen`` is what sets the matrix products' threading.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import time

import numpy as np

MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST, as analog_ep/data/__init__.py


def load_idx(path: str) -> np.ndarray:
    """An IDX file (optionally gzipped) as a uint8 array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fmnist(root: str):
    def images(name):
        x = load_idx(os.path.join(root, name)).reshape(-1, 784).astype(np.float32)
        return ((x / 255.0 - MEAN) / STD).astype(np.float32)

    def labels(name):
        return load_idx(os.path.join(root, name)).astype(np.int32)

    return (images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz"),
            images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz"))


def make_pcx(sizes: list[int], act: str, activity_lr: float, lr: float, batch: int):
    """The PCX network and its jitted steps: ``build(seed) -> (model, optim_w, optim_h)``,
    ``train_on_batch(T, x, y, *, model, optim_w, optim_h)``, ``weight_grads(T, x, y, *, model,
    optim_h)`` (the batch-mean weight gradient after the T activity steps; used by
    check_pc_equivalence.py), ``eval_on_batch(x, *, model)`` and ``sync(model)``."""
    import types

    import jax
    import jax.numpy as jnp
    import optax
    import pcx
    import pcx.functional as pxf
    import pcx.nn as pxnn
    import pcx.predictive_coding as pxc
    import pcx.utils as pxu

    act_fn = getattr(jax.nn, act)

    class PCMLP(pxc.EnergyModule):
        """784-H-...-10: hidden vodes ``h_k`` predicted by ``u_k = act(W_k h_{k-1} + b_k)``, a
        linear output vode; energy ``1/2 ||h_k - u_k||^2`` per vode (pxc.se_energy, the default)."""

        def __init__(self, sizes, act):
            super().__init__()
            self.act = pcx.static(act)
            self.layers = [pxnn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
            self.vodes = [pxc.Vode() for _ in sizes[1:]]
            self.vodes[-1].h.frozen = True  # the output is clamped, never an inference variable

        def __call__(self, x, y=None):
            for vode, layer in zip(self.vodes[:-1], self.layers[:-1]):
                x = vode(self.act(layer(x)))
            self.vodes[-1](self.layers[-1](x))
            if y is not None:  # h_L = u_L - beta (u_L - y) with beta = 1: the label
                self.vodes[-1].set("h", y)
            return self.vodes[-1].get("u")

    @pxf.vmap(pxu.M(pxc.VodeParam | pxc.VodeParam.Cache).to((None, 0)), in_axes=(0, 0), out_axes=0)
    def forward(x, y, *, model):
        return model(x, y)

    @pxf.vmap(pxu.M(pxc.VodeParam | pxc.VodeParam.Cache).to((None, 0)), in_axes=(0,), out_axes=(None, 0),
              axis_name="batch")
    def energy(x, *, model):
        u = model(x, None)
        return jax.lax.psum(model.energy(), "batch"), u  # summed over the batch: per-sample activity gradients

    def infer(T, x, y, *, model, optim_h):
        """Forward initialization with the output clamped, T activity SGD steps; returns the
        energy's weight gradient (summed over the batch) at the relaxed activities."""
        model.train()
        with pxu.step(model, pxc.STATUS.INIT, clear_params=pxc.VodeParam.Cache):
            forward(x, y, model=model)
        optim_h.init(pxu.M_hasnot(pxc.VodeParam, frozen=True)(model))
        for _ in range(T):
            with pxu.step(model, clear_params=pxc.VodeParam.Cache):
                _, g = pxf.value_and_grad(pxu.M_hasnot(pxc.VodeParam, frozen=True).to([False, True]),
                                          has_aux=True)(energy)(x, model=model)
            optim_h.step(model, g["model"])
        optim_h.clear()
        with pxu.step(model, clear_params=pxc.VodeParam.Cache):
            _, g = pxf.value_and_grad(pxu.M(pxnn.LayerParam).to([False, True]), has_aux=True)(energy)(x, model=model)
        return g["model"]

    @pxf.jit(static_argnums=0)
    def train_on_batch(T, x, y, *, model, optim_w, optim_h):
        g = infer(T, x, y, model=model, optim_h=optim_h)
        optim_w.step(model, g, scale_by=1.0 / x.shape[0])  # batch-mean weight gradient

    @pxf.jit(static_argnums=0)
    def weight_grads(T, x, y, *, model, optim_h):
        g = infer(T, x, y, model=model, optim_h=optim_h)
        return [(l.nn.weight.get() / x.shape[0], l.nn.bias.get() / x.shape[0]) for l in g.layers]

    @pxf.jit()
    def eval_on_batch(x, *, model):
        model.eval()
        with pxu.step(model, pxc.STATUS.INIT, clear_params=pxc.VodeParam.Cache):
            u = forward(x, None, model=model)
        return u.argmax(axis=-1)

    def build(seed):
        """Weights U(+-1/sqrt(fan_in)) (equinox's Linear), biases set to zero as analog_ep's
        PCNMLP; the vodes sized for ``batch``; SGD on the activities, Adam on the weights."""
        pcx.RKG.seed(seed)
        model = PCMLP(sizes, act_fn)
        for layer in model.layers:
            layer.nn.bias.set(jnp.zeros_like(layer.nn.bias.get()))
        with pxu.step(model, pxc.STATUS.INIT, clear_params=pxc.VodeParam.Cache):
            forward(jnp.zeros((batch, sizes[0])), None, model=model)
        optim_h = pxu.Optim(lambda: optax.sgd(activity_lr))
        optim_w = pxu.Optim(lambda: optax.adam(lr), pxu.M(pxnn.LayerParam)(model))
        return model, optim_w, optim_h

    def sync(model):
        jax.block_until_ready([layer.nn.weight.get() for layer in model.layers])

    return types.SimpleNamespace(build=build, train_on_batch=train_on_batch, weight_grads=weight_grads,
                                 eval_on_batch=eval_on_batch, sync=sync)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="/work/shared/data/fashion-mnist")
    ap.add_argument("--hidden", default="256,256", help="hidden widths, comma separated")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--T", type=int, default=8, help="activity (inference) steps per batch")
    ap.add_argument("--activity-lr", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate of the weights")
    ap.add_argument("--act", default="relu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--max-batches", type=int, default=None, help="smoke tests: stop each epoch early")
    args = ap.parse_args()

    import jax
    import jax.numpy as jnp
    import optax
    import pcx

    sizes = [784] + [int(h) for h in args.hidden.split(",") if h] + [10]
    P = make_pcx(sizes, args.act, args.activity_lr, args.lr, args.batch)
    build, train_on_batch, eval_on_batch, sync = P.build, P.train_on_batch, P.eval_on_batch, P.sync

    xtr, ytr, xte, yte = load_fmnist(args.data)
    eye = np.eye(10, dtype=np.float32)

    # PCX's examples keep the batch size constant (drop_last=True: the vodes hold one value per
    # sample, so a smaller last batch would not fit them); so does this epoch: the floor(n / batch)
    # full batches of a fresh permutation (the analog-ep side is given the same number of images
    # with data.train_size).
    n = (len(xtr) // args.batch) * args.batch
    model, optim_w, optim_h = build(args.seed)

    # Compilation: two steps on the real model and optimizers (jax.jit's cache is keyed on their
    # static parts, which a second instance would not share), then every parameter (weights, Adam
    # state, vodes) is put back, so the timed epoch starts from the initialization, compiled.
    params = [p for p in jax.tree_util.tree_leaves((model, optim_w, optim_h),
                                                   is_leaf=lambda q: isinstance(q, pcx.BaseParam))
              if isinstance(p, pcx.core.Param)]
    saved = [p.get() for p in params]
    xb, yb = jnp.asarray(xtr[:args.batch]), jnp.asarray(eye[ytr[:args.batch]])
    t0 = time.perf_counter()
    train_on_batch(args.T, xb, yb, model=model, optim_w=optim_w, optim_h=optim_h)
    sync(model)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    train_on_batch(args.T, xb, yb, model=model, optim_w=optim_w, optim_h=optim_h)
    sync(model)
    compile_s = first - (time.perf_counter() - t0)
    eval_on_batch(xb, model=model)  # evaluation's compilation (not timed)
    for p, v in zip(params, saved):
        p.set(v)

    rng = np.random.default_rng(args.seed)
    epoch_s, cpu_s, accs, first_step_s = [], [], [], None
    for _ in range(args.epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        order = rng.permutation(len(xtr))[:n]
        for j, i in enumerate(range(0, n, args.batch)):
            if args.max_batches is not None and j >= args.max_batches:
                break
            idx = order[i:i + args.batch]
            train_on_batch(args.T, jnp.asarray(xtr[idx]), jnp.asarray(eye[ytr[idx]]),
                           model=model, optim_w=optim_w, optim_h=optim_h)
            if first_step_s is None:  # a recompilation here would show (it should be one step's time)
                sync(model)
                first_step_s = time.perf_counter() - t0
        sync(model)
        epoch_s.append(time.perf_counter() - t0)
        cpu_s.append(time.process_time() - c0)
        preds = []
        for i in range(0, len(xte), args.batch):  # the last batch zero-padded to the constant batch size
            xb = xte[i:i + args.batch]
            pad = np.zeros((args.batch - len(xb), 784), np.float32)
            preds.append(np.asarray(eval_on_batch(jnp.asarray(np.concatenate([xb, pad])), model=model))[:len(xb)])
        pred = np.concatenate(preds)
        accs.append(float((pred == yte).mean()))

    print(json.dumps({
        "side": "pcx",
        "epoch_seconds": epoch_s[0] if len(epoch_s) == 1 else epoch_s,
        "epoch_cpu_seconds": cpu_s[0] if len(cpu_s) == 1 else cpu_s,
        "compile_seconds": compile_s,
        "first_step_seconds": first_step_s,
        "test_accuracy": accs[-1],
        "settings": {"sizes": sizes, "activation": args.act, "batch": args.batch, "T": args.T,
                     "activity_optimizer": f"sgd({args.activity_lr})", "weight_optimizer": f"adam({args.lr})",
                     "energy": "se (1/2 ||h - u||^2), output clamped to the one-hot label", "seed": args.seed,
                     "train_images": n, "batches": n // args.batch, "epochs": args.epochs},
        "versions": {"pcx": _version("pcx"), "jax": jax.__version__, "jaxlib": _version("jaxlib"),
                     "optax": optax.__version__, "equinox": _version("equinox"), "numpy": np.__version__,
                     "python": platform.python_version()},
        "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "XLA_FLAGS")},
    }))


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
