"""Probe: dchn_vgg5 EP update with feedback_scale eps, compensated per layer (divided by
ep_grad_scales), against the feed-forward twin's backprop gradient at the same weights.
usage: [PROBE_SETS="k=v;k=v"] [PROBE_ITERS="free,nudge,tol"] [PROBE_F32=1] crnn_probe.py CKPT_OR_- EPS[,EPS..] [beta] [batch]
(PROBE_SETS defaults to dchn_vgg5 16-32-64-64 at gains 0.7; float64 unless PROBE_F32)."""
import sys, torch
from analog_ep.config.loader import load_config
from analog_ep.data import load_data
from analog_ep.train.build import build_model
from analog_ep.train.loop import one_hot
from analog_ep.algorithms.bp import bp_gradient
from analog_ep.algorithms.ep import ep_gradient
from analog_ep.algorithms.rules import build_rule
torch.set_num_threads(1)
ck = sys.argv[1]; epss = [float(e) for e in sys.argv[2].split(",")]
beta = float(sys.argv[3]) if len(sys.argv) > 3 else 0.15
batch = int(sys.argv[4]) if len(sys.argv) > 4 else 32
import os
iters = [tuple(float(v) if "e" in v else int(v) for v in os.environ.get("PROBE_ITERS", "60,20,1e-4").split(","))]
for eps in epss:
    import os
    base = os.environ.get("PROBE_SETS", "model.name=dchn_vgg5;model.channels=[16,32,64,64];model.gains=[0.7,0.7,0.7,0.7,0.7]").split(";")
    sets = base + ["data.name=fashion_mnist",
            "data.root=/work/shared/data/fashion-mnist", "data.train_size=2000", "data.test_size=200",
            f"model.feedback_scale={eps}", f"ep.beta={beta}"]
    cfg = load_config(None, sets)
    tr, _, info = load_data(cfg.data, cfg.seed)
    model = build_model(cfg, info.shape, info.num_classes)
    if ck != "-":
        st = torch.load(ck, weights_only=False)
        model.load_state_dict(st["model"], strict=False)
    dt = torch.float32 if os.environ.get('PROBE_F32') else torch.float64
    model = model.to(dt)
    x, y = tr.batch(slice(0, batch)); x = x.to(dt); t = one_hot(y, info.num_classes, dt)
    rule = build_rule(cfg, model, torch.device("cpu"))
    solver = rule.solver if hasattr(rule, "solver") else None
    # the twin's gradient: the plain pass and objective (eps 1; under aux_weight local with aux
    # readouts, total_cost at eps < 1 would weight readout k by eps^(k-C))
    model.configure(nudge=model.nudge, colouring=model.colouring_method, feedback_scale=1.0)
    g_bp, _, _ = bp_gradient(model, x, t)
    model.configure(nudge=model.nudge, colouring=model.colouring_method, feedback_scale=eps)
    scales = model.ep_grad_scales()
    index = {id(p): i for i, p in enumerate(model.ep_parameters())}
    for fi, ni, tol in iters:
        r = ep_gradient(model, x, t, model.zero_state(batch, x), solver, beta=beta, estimator="centered",
                        free_iters=fi, nudge_iters=ni, tol=tol)
        row = []
        for group in model.layer_groups():
            e = torch.cat([(r.grads[index[id(p)]] / scales[index[id(p)]]).reshape(-1) for p in group])
            b = torch.cat([g_bp[index[id(p)]].reshape(-1) for p in group])
            row.append(f"{float(e @ b / (e.norm() * b.norm())):.3f}/{float(e.norm() / b.norm()):.2f}")
        print(f"eps {eps} budget {fi}/{ni} tol {tol}: free sweeps {r.stats['free'].sweeps} cos/ratio per layer", " ".join(row), flush=True)
