"""Pulse-response figure of a device card (``analog-ep devices plot``)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from ..analog.devices import apply_pulses, response
from ..analog.population import sample_device_state, settle
from ..analog.rules import nominal_dw_min
from ..errors import ConfigError


def plot_response(card, out: str | Path, pulses: int | None = None, n_devices: int = 100, seed: int = 0) -> None:
    """Up then down pulses from w = 0: population mean +- std, five single devices, and the
    nominal bounds. Written atomically (temporary file, then rename)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    if out.suffix.lower() != ".png":
        raise ConfigError(f"--out: {out} must end in .png")
    if not out.parent.is_dir():
        what = "is not a folder" if out.parent.exists() else "does not exist"
        raise ConfigError(f"--out: folder {out.parent} {what}; pick another --out")
    fig = response_figure(card, pulses, n_devices, seed)
    tmp = out.with_name(out.name + ".tmp.png")
    try:
        fig.savefig(tmp)
        os.replace(tmp, out)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"--out: cannot write {out} ({e.strerror or e.__class__.__name__}); pick another "
                          "--out") from None
    finally:
        plt.close(fig)


def response_figure(card, pulses: int | None = None, n_devices: int = 100, seed: int = 0,
                    figsize=(6.4, 4.0)):
    """The pulse-response figure (a matplotlib ``Figure``, Agg backend; the caller saves and
    closes it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    params = card.params
    if pulses is None:
        pulses = int(min(5000, math.ceil(1.5 * params.w_max / nominal_dw_min(params))))
    r = response(params, pulses, n_devices, seed)
    # a few individual devices (same draws as the population's first ones)
    state = sample_device_state(params, (5,), seed, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed + 1)
    w = settle(torch.zeros(5, dtype=torch.float64), state, params)
    traces = [w.clone()]
    for sign in (1, -1):
        for _ in range(pulses):
            w = apply_pulses(w, sign * torch.ones(5, dtype=torch.int64), state, params, gen)
            traces.append(w.clone())
    traces = torch.stack(traces).numpy()

    fig, ax = plt.subplots(figsize=figsize, dpi=120)
    p = r["pulses"]
    mean, std = torch.tensor(r["w_mean"]), torch.tensor(r["w_std"])
    ax.fill_between(p, (mean - std).numpy(), (mean + std).numpy(), alpha=0.25, label=f"mean +- std ({n_devices} devices)")
    ax.plot(p, mean.numpy(), lw=2, label="mean")
    ax.plot(p, traces, lw=0.6, alpha=0.7, color="gray")
    ax.axhline(params.w_max, ls="--", lw=0.8, color="k")
    ax.axhline(params.w_min, ls="--", lw=0.8, color="k")
    ax.axvline(pulses, ls=":", lw=0.8, color="k")
    ax.set_xlabel(f"pulse number ({pulses} up, then {pulses} down)")
    ax.set_ylabel("weight (device units)")
    ax.set_title(f"{card.name}: {params.rule}, {card.implied_states} states")
    ax.legend(loc="lower center", fontsize=8)
    fig.tight_layout()
    return fig
