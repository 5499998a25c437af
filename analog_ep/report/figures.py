"""Figures of ``analog-ep report``: small matplotlib figures (Agg backend), each saved as PNG and
SVG (temporary file, then rename).

Every ``*_figure`` function returns a ``Figure`` or None when there is nothing to draw; the
caller saves it with :func:`save_figure`.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np
import yaml

SMALL = (6.4, 3.4)
"""Default figure size in inches (about 770 x 410 pixels at the PNG's 120 dpi)."""
DPI = 120
PHASES = ("free", "nudge+", "nudge-", "eval")


def fmt_value(v) -> str:
    """The page's one number format (every table cell, summary value and caption number): numbers
    with 4 significant digits, positional from 0.001 to 10^6 (``0.8933``, ``22910``), scientific
    outside (``2.673e-07``), integers as they are, booleans ``true``/``false``, lists and
    mappings as flow YAML of formatted numbers, None empty."""
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if not math.isfinite(v):
            return "nan"
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        r = float(f"{v:.4g}")  # 4 significant digits
        if 1e-3 <= abs(r) < 1e6:  # positional, trailing zeros dropped (22910.5 -> 22910, 0.89333 -> 0.8933)
            return np.format_float_positional(r, trim="-")
        return f"{r:.4g}"
    if isinstance(v, str):
        try:
            x = float(v)
        except ValueError:
            return v
        if re.fullmatch(r"[+-]?\d+", v.strip()):
            return v
        return fmt_value(x)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(fmt_value(x) for x in v) + "]"
    return yaml.safe_dump(v, default_flow_style=True).strip()


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, folder: Path, stem: str, tight: bool = False) -> tuple[Path, Path]:
    """Write ``folder/stem.png`` and ``folder/stem.svg`` (each to a temporary name, renamed), close
    the figure and return both paths. ``tight``: the saved area is cropped to what is drawn
    (``bbox_inches="tight"``)."""
    plt = _plt()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "svg"):
        path = folder / f"{stem}.{ext}"
        tmp = folder / f".{stem}.tmp.{ext}"
        fig.savefig(tmp, format=ext, dpi=DPI, bbox_inches="tight" if tight else None)
        os.replace(tmp, path)
        paths.append(path)
    plt.close(fig)
    return paths[0], paths[1]


def _int_x(*axes) -> None:
    """Integer ticks on the x axes (epochs)."""
    from matplotlib.ticker import MaxNLocator

    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _finite(a) -> bool:
    a = np.asarray(a, dtype=np.float64)
    return bool(a.size) and bool(np.isfinite(a).any())


def _grid(n: int, ncols: int = 3, width: float = 6.4, row_h: float = 2.4):
    """``n`` small axes on a grid (at most ``ncols`` per row); unused axes hidden."""
    plt = _plt()
    cols = max(1, min(ncols, n))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width, row_h * rows + 0.4), dpi=DPI, squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


# --------------------------------------------------------------------------------------- run
def training_curves_figure(ep: dict):
    """Train and test accuracy (left) and loss (right) per epoch."""
    plt = _plt()
    epoch = np.asarray(ep.get("epoch", []), dtype=np.float64)
    if not epoch.size:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=SMALL, dpi=DPI)
    for ax, metric, label in ((a1, "accuracy", "accuracy"), (a2, "loss", "loss")):
        for split, style in (("train", "-o"), ("test", "-s")):
            v = ep.get(f"{split}_{metric}")
            if v is not None and _finite(v):
                ok = np.isfinite(v)
                ax.plot(epoch[ok], np.asarray(v)[ok], style, ms=3, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _int_x(a1, a2)
    a1.set_title("accuracy", fontsize=10)
    a2.set_title("loss", fontsize=10)
    fig.tight_layout()
    return fig


RELAX_GROUPS = (("free", "eval"), ("nudge+", "nudge-"))
"""The relaxation figure's panel pairs: the phases that share a panel are told apart by line
style and marker (a pair's curves often coincide)."""
_PHASE_STYLE = {"free": ("-", "o", "C0"), "eval": ("--", "s", "C1"), "nudge+": ("-", "^", "C2"),
                "nudge-": ("--", "v", "C3")}


def stop_fraction(ep: dict, phase: str) -> tuple[np.ndarray | None, str]:
    """The per-epoch fraction of samples whose relaxation stopped on its criterion, and which
    criterion: ``settled`` (``<phase>_settled_fraction``, the noise-floor stop: residual below
    ``tol`` or on the read-noise floor) where the run stored it, else ``converged``
    (``<phase>_converged_fraction``, residual below ``tol``); ``(None, "")`` for neither."""
    for key, name in ((f"{phase}_settled_fraction", "settled"), (f"{phase}_converged_fraction", "converged")):
        v = ep.get(key)
        if v is not None and _finite(v):
            return np.asarray(v, dtype=np.float64), name
    return None, ""


def relaxation_figure(ep: dict):
    """Mean relaxation steps (top) and the fraction of samples that stopped on their criterion
    (bottom) per epoch, free and eval in the left panels, nudge+ and nudge- in the right ones
    (distinct line styles and markers; :func:`stop_fraction` says which criterion each line
    is)."""
    plt = _plt()
    epoch = np.asarray(ep.get("epoch", []), dtype=np.float64)
    phases = [p for p in PHASES if _finite(ep.get(f"{p}_mean_steps", []))]
    if not epoch.size or not phases:
        return None
    groups = [[p for p in g if p in phases] for g in RELAX_GROUPS]
    groups = [g for g in groups if g] + [[p for p in phases if not any(p in g for g in RELAX_GROUPS)]]
    groups = [g for g in groups if g]
    fig, axes = plt.subplots(2, len(groups), figsize=(SMALL[0], SMALL[1] * 1.5), dpi=DPI, squeeze=False)
    for j, group in enumerate(groups):
        a1, a2 = axes[0, j], axes[1, j]
        for p in group:
            ls, mk, color = _PHASE_STYLE.get(p, ("-", "o", "C4"))
            v = np.asarray(ep[f"{p}_mean_steps"], dtype=np.float64)
            ok = np.isfinite(v)
            a1.plot(epoch[ok], v[ok], ls=ls, marker=mk, ms=4, color=color, label=p, mfc="none" if ls == "--" else None)
            f, name = stop_fraction(ep, p)
            if f is not None:
                ok = np.isfinite(f)
                a2.plot(epoch[ok], f[ok], ls=ls, marker=mk, ms=4, color=color, label=f"{p}: {name}",
                        mfc="none" if ls == "--" else None)
        a1.set_title(" vs ".join(group) + ": mean steps", fontsize=9)
        a2.set_title(" vs ".join(group) + ": stopped fraction", fontsize=9)
        a2.set_ylim(-0.05, 1.05)
        a2.set_xlabel("epoch", fontsize=8)
        for ax in (a1, a2):
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=7)
            if ax.lines:
                ax.legend(fontsize=7)
        _int_x(a1, a2)
    axes[0, 0].set_ylabel("mean steps", fontsize=8)
    axes[1, 0].set_ylabel("fraction of samples", fontsize=8)
    fig.tight_layout()
    return fig


def energy_traces_figure(traces: dict):
    """The energy traces a run stored (``results.h5`` group ``traces``): EP on a PCN, the total
    energy at each nudged iteration (``nudge+_energy``, ``nudge-_energy``, mean over the epoch's
    batches); PC, the energy of each layer at each activity step (``pc_energy``, shape
    (epochs, T + 1, L)). One line per recorded epoch (first epoch light, last dark). None when
    the run stored no trace."""
    panels = []
    for name in ("nudge+_energy", "nudge-_energy"):
        a = traces.get(name)
        if a is not None and np.asarray(a).ndim == 2 and np.asarray(a).size:
            panels.append((name, np.asarray(a, dtype=np.float64)[:, :, None], ["total"]))
    a = traces.get("pc_energy")
    if a is not None and np.asarray(a).ndim == 3 and np.asarray(a).size:
        a = np.asarray(a, dtype=np.float64)
        panels.append(("pc_energy", a, [f"layer {k}" for k in range(a.shape[2])]))
    if not panels:
        return None
    plt = _plt()
    cols = sum(p[1].shape[2] if p[0] == "pc_energy" else 1 for p in panels)
    fig, axes = _grid(cols, ncols=min(cols, 3), width=SMALL[0], row_h=2.6)
    i = 0
    for name, a, labels in panels:
        epochs = np.asarray(traces.get(f"{name}_epoch", np.arange(a.shape[0])), dtype=np.float64)
        for k, label in enumerate(labels):
            ax = axes[i]
            i += 1
            cmap = plt.get_cmap("viridis")
            for e in range(a.shape[0]):
                y = a[e, :, k]
                ok = np.isfinite(y)
                shade = 0.15 + 0.7 * (e / max(a.shape[0] - 1, 1))
                ax.plot(np.arange(y.size)[ok], y[ok], "-", lw=1.2, color=cmap(shade),
                        label=f"epoch {int(epochs[e])}" if e in (0, a.shape[0] - 1) else None)
            what = "nudged iteration" if name != "pc_energy" else "activity step"
            ax.set_xlabel(what, fontsize=8)
            ax.set_title(f"{name} ({label})" if name == "pc_energy" else f"{name}: total energy", fontsize=9)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=7)
    axes[0].set_ylabel("energy (mean over batches)", fontsize=8)
    fig.tight_layout()
    return fig


def histograms_figure(arrays: dict, xlabel: str, title: str, log_y: bool = False, bins: int = 40,
                      counts: bool = False):
    """One histogram per layer (``{layer: array}``). The x axis has at most 4 ticks; ``counts``:
    the values are counts (pulses), labelled with SI prefixes (``12k``, ``3.4M``) so large
    numbers stay readable."""
    if not arrays:
        return None
    from matplotlib.ticker import EngFormatter, MaxNLocator

    fig, axes = _grid(len(arrays))
    for ax, (name, a) in zip(axes, arrays.items()):
        a = np.asarray(a, dtype=np.float64).ravel()
        a = a[np.isfinite(a)]
        if a.size:
            lo, hi = float(a.min()), float(a.max())
            ax.hist(a, bins=bins if hi > lo else 1, color="C0", alpha=0.8, log=log_y)
        ax.set_title(f"{name} ({a.size})", fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(4))
        if counts:
            ax.xaxis.set_major_formatter(EngFormatter(sep=""))
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("devices", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def pulses_figure(ep: dict):
    """Pulses sent to each layer per epoch."""
    plt = _plt()
    epoch = np.asarray(ep.get("epoch", []), dtype=np.float64)
    keys = sorted((k for k in ep if k.startswith("pulses_layer")), key=lambda k: int(k[12:]) if k[12:].isdigit() else 0)
    if not epoch.size or not keys:
        return None
    fig, ax = plt.subplots(figsize=SMALL, dpi=DPI)
    for k in keys:
        v = np.asarray(ep[k], dtype=np.float64)
        ok = np.isfinite(v)
        ax.plot(epoch[ok], v[ok], "-o", ms=3, label=f"layer {k[12:]}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("pulses")
    ax.set_title("pulses per layer per epoch", fontsize=10)
    _int_x(ax)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def drift_figure(drift: dict):
    """Test accuracy (mean +- std over draws) against the time after programming, one line per
    compensation, with the run's own final test accuracy as a dashed line."""
    plt = _plt()
    rows = drift.get("rows") or []
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=SMALL, dpi=DPI)
    for comp in dict.fromkeys(r.get("compensation", "none") for r in rows):
        rs = sorted((r for r in rows if r.get("compensation", "none") == comp), key=lambda r: r["t_s"])
        ax.errorbar([r["t_s"] for r in rs], [r["accuracy_mean"] for r in rs],
                    yerr=[r.get("accuracy_std", 0.0) for r in rs], fmt="-o", ms=3, capsize=3,
                    label=f"compensation {comp}")
    if isinstance(drift.get("test_accuracy"), (int, float)):
        ax.axhline(drift["test_accuracy"], ls="--", lw=0.8, color="k", label="trained")
    ax.set_xscale("log")
    ax.set_xlabel("time after programming (s)")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"conductance drift (draws of the exponents: {drift.get('draws', '?')})", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------- sweep
def _as_number(v: str):
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _axis_values(values: list[str]) -> tuple[list, bool]:
    """The distinct values of a swept column in order (numeric ascending when all are numbers)."""
    distinct = list(dict.fromkeys(values))
    nums = [_as_number(v) for v in distinct]
    if distinct and all(n is not None for n in nums):
        return [v for _, v in sorted(zip(nums, distinct))], True
    return distinct, False


def _finish_sweep_axis(fig, ax, xs, order, numeric: bool, key: str, metric: str, note: str, legend_size: int):
    """The x axis of a plot against one swept key (log where a positive numeric axis spans two
    decades, the values as tick labels where it is not numeric), labels, title, grid, legend."""
    if numeric and all(x > 0 for x in xs) and max(xs) / min(xs) >= 100:
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks(xs)
        ax.set_xticklabels(order, rotation=30, ha="right", fontsize=8)
    ax.set_xlabel(key)
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_title(f"{metric.replace('_', ' ')} against {key}{note}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_size)
    fig.tight_layout()


def sweep_axis_figure(rows: list[dict], key: str, metric: str = "test_accuracy"):
    """``metric`` against one swept key: every seed as a dot, the mean as a line, min-max bars
    (rows of the other axes, if any, are pooled)."""
    plt = _plt()
    groups: dict[str, list[float]] = {}
    for r in rows:
        y = _as_number(r.get(metric))
        if y is not None:
            groups.setdefault(r.get(key, ""), []).append(y)
    if not groups:
        return None
    order, numeric = _axis_values(list(groups))
    xs = [float(v) for v in order] if numeric else list(range(len(order)))
    ys = [np.asarray(groups[v]) for v in order]
    mean = np.array([y.mean() for y in ys])
    lo = np.array([y.min() for y in ys])
    hi = np.array([y.max() for y in ys])
    fig, ax = plt.subplots(figsize=SMALL, dpi=DPI)
    for x, y in zip(xs, ys):
        ax.plot([x] * len(y), y, ".", color="gray", alpha=0.7, ms=5)
    ax.errorbar(xs, mean, yerr=[mean - lo, hi - mean], fmt="-o", ms=4, capsize=4, color="C0",
                label="mean (bars: min-max over seeds)")
    _finish_sweep_axis(fig, ax, xs, order, numeric, key, metric, "", 8)
    return fig


def sweep_heatmap_figure(rows: list[dict], kx: str, ky: str, metric: str = "test_accuracy"):
    """Mean ``metric`` over seeds on the grid of two swept keys (cells annotated)."""
    plt = _plt()
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        y = _as_number(r.get(metric))
        if y is not None:
            groups.setdefault((r.get(kx, ""), r.get(ky, "")), []).append(y)
    if not groups:
        return None
    xs, _ = _axis_values([k[0] for k in groups])
    ys, _ = _axis_values([k[1] for k in groups])
    m = np.full((len(ys), len(xs)), np.nan)
    n = np.zeros((len(ys), len(xs)), dtype=int)
    for (vx, vy), v in groups.items():
        m[ys.index(vy), xs.index(vx)] = float(np.mean(v))
        n[ys.index(vy), xs.index(vx)] = len(v)
    w = min(9.0, max(4.8, 1.0 + 0.8 * len(xs)))
    h = min(8.0, max(3.4, 1.0 + 0.5 * len(ys)))
    fig, ax = plt.subplots(figsize=(w, h), dpi=DPI)
    im = ax.imshow(np.ma.masked_invalid(m), origin="lower", aspect="auto", cmap="viridis")
    fig.colorbar(im, ax=ax, label=f"mean {metric.replace('_', ' ')}")
    finite = m[np.isfinite(m)]
    mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    if len(xs) * len(ys) <= 100:
        for i in range(len(ys)):
            for j in range(len(xs)):
                if np.isfinite(m[i, j]):
                    ax.text(j, i, f"{fmt_value(m[i, j])}\n(n={n[i, j]})", ha="center", va="center", fontsize=7,
                            color="k" if m[i, j] > mid else "w")
    ax.set_xticks(range(len(xs)))
    ax.set_xticklabels(xs, rotation=30 if len(xs) > 4 else 0, fontsize=8)
    ax.set_yticks(range(len(ys)))
    ax.set_yticklabels(ys, fontsize=8)
    ax.set_xlabel(kx)
    ax.set_ylabel(ky)
    ax.set_title(f"mean {metric.replace('_', ' ')} over seeds", fontsize=10)
    fig.tight_layout()
    return fig


def sweep_lines_figure(rows: list[dict], key: str, other: str | None = None, baseline: list[float] | None = None,
                       metric: str = "test_accuracy"):
    """``metric`` against the swept ``key``, one line per value of the swept ``other`` (one line
    when None; keys neither ``key`` nor ``other`` are pooled): the mean over seeds with a
    min-max band (error bars when the line has one point), the seeds as small dots. ``baseline``:
    the digital points' values, drawn as a dashed horizontal line at their mean (band: min-max)."""
    plt = _plt()
    lines: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        y = _as_number(r.get(metric))
        if y is not None:
            lines.setdefault(r.get(other, "") if other else "", {}).setdefault(r.get(key, ""), []).append(y)
    if not lines:
        return None
    order, numeric = _axis_values([v for line in lines.values() for v in line])
    pos = {v: (float(v) if numeric else float(i)) for i, v in enumerate(order)}
    fig, ax = plt.subplots(figsize=SMALL, dpi=DPI)
    styles = ("-", "--", "-.", ":")
    markers = ("o", "s", "^", "v", "D", "P")
    names, _ = _axis_values(list(lines))
    for i, name in enumerate(names):
        line = lines[name]
        vals = [v for v in order if v in line]
        x = np.array([pos[v] for v in vals])
        ys = [np.asarray(line[v]) for v in vals]
        mean = np.array([y.mean() for y in ys])
        lo = np.array([y.min() for y in ys])
        hi = np.array([y.max() for y in ys])
        n = max(len(y) for y in ys)
        color = f"C{i % 10}"
        label = (f"{other} = {name}" if other else "mean") + f" (n = {n} seed{'s' if n > 1 else ''})"
        ax.plot(x, mean, ls=styles[i % len(styles)], marker=markers[i % len(markers)], ms=4, color=color,
                label=label)
        if n > 1:
            if len(x) > 1:
                ax.fill_between(x, lo, hi, color=color, alpha=0.15, lw=0)
            else:
                ax.errorbar(x, mean, yerr=[mean - lo, hi - mean], color=color, capsize=3, lw=0, elinewidth=1)
        for xv, y in zip(x, ys):
            ax.plot([xv] * len(y), y, ".", color=color, alpha=0.5, ms=4)
    if baseline:
        b = np.asarray(baseline, dtype=np.float64)
        ax.axhline(b.mean(), ls="--", lw=1.0, color="k",
                   label=f"digital baseline (n = {b.size})")
        if b.size > 1:
            ax.axhspan(b.min(), b.max(), color="k", alpha=0.07, lw=0)
    xs = [pos[v] for v in order]
    _finish_sweep_axis(fig, ax, xs, order, numeric, key, metric, " (band: min-max over seeds)", 7)
    return fig


def deploy_figure(result: dict):
    """A deployment (``deploy.json``): test accuracy against the time after programming (log
    s), mean +- std over the repeats, one line without and one with global drift compensation;
    the accuracy as programmed (dotted) and the trained network's own (dashed) as horizontal
    lines. None for a result with neither times nor an accuracy."""
    rows = result.get("rows") or []
    prog = result.get("accuracy_mean")
    if not rows and prog is None:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=SMALL, dpi=DPI)
    names = {"none": "no compensation", "global": "global drift compensation"}
    for i, comp in enumerate(dict.fromkeys(r.get("compensation", "none") for r in rows)):
        rs = sorted((r for r in rows if r.get("compensation", "none") == comp), key=lambda r: r["t_s"])
        ax.errorbar([r["t_s"] for r in rs], [r["accuracy_mean"] for r in rs],
                    yerr=[r.get("accuracy_std") or 0.0 for r in rs], fmt="-o" if i == 0 else "--s", ms=4,
                    capsize=3, color=f"C{i}", label=names.get(comp, comp))
    if prog is not None:
        ax.axhline(prog, ls=":", lw=1.2, color="C2", label="as programmed")
    if result.get("trained_accuracy") is not None:
        ax.axhline(result["trained_accuracy"], ls="--", lw=0.9, color="k",
                   label=f"trained ({result.get('trained_on', '?')})")
    if rows:
        ax.set_xscale("log")
        ax.set_xlabel("time after programming (s)")
    else:
        ax.set_xticks([])
        ax.set_xlabel("no drift on this card: one accuracy at every time")
    ax.set_ylabel("test accuracy")
    n = result.get("repeats", "?")
    ax.set_title(f"deployed on {result.get('device_name', result.get('device', '?'))} "
                 f"({n} repeat{'' if str(n) == '1' else 's'})", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------- compare
def compare_bars_figure(values: dict, ylabel: str, title: str, seeds: dict | None = None,
                        spread: dict | None = None, stacked: dict | None = None):
    """One bar per variant (``values``: ``{variant: number or None}``, drawn in that order;
    None: no bar, the variant named on the axis with ``n/a``). ``seeds``: ``{variant: [per-seed
    values]}`` drawn as dots with min-max error bars; ``spread``: ``{variant: std}`` as error bars
    where no per-seed values are at hand; ``stacked``: ``{variant: {part: value}}`` draws stacked
    bars by part instead (pulses by layer). None when no variant has a value."""
    names = list(values)
    if not any(v is not None for v in values.values()) and not stacked:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=SMALL, dpi=DPI)
    x = np.arange(len(names))
    if stacked:
        parts = list(dict.fromkeys(p for d in stacked.values() for p in d))
        bottom = np.zeros(len(names))
        for i, part in enumerate(parts):
            v = np.array([float(stacked.get(n, {}).get(part) or 0.0) for n in names])
            ax.bar(x, v, bottom=bottom, width=0.6, color=f"C{i % 10}", label=part)
            bottom += v
        ax.legend(fontsize=7)
    else:
        v = np.array([np.nan if values[n] is None else float(values[n]) for n in names])
        ax.bar(x, np.where(np.isfinite(v), v, 0.0), width=0.6, color="C0", alpha=0.8)
        for i in np.flatnonzero(np.isfinite(v)):
            ax.annotate(fmt_value(v[i]), (x[i], 0.0), xytext=(0, 3), textcoords="offset points", ha="center",
                        va="bottom", fontsize=7, color="w")
        for i, n in enumerate(names):
            pts = np.asarray([p for p in (seeds or {}).get(n, []) if p is not None], dtype=np.float64)
            if pts.size:
                ax.plot([i] * pts.size, pts, "o", color="k", ms=3, zorder=3)
                if pts.size > 1:
                    ax.errorbar([i], [v[i]], yerr=[[v[i] - pts.min()], [pts.max() - v[i]]], color="k",
                                capsize=4, lw=0, elinewidth=1)
            elif (spread or {}).get(n) is not None and np.isfinite(v[i]):
                ax.errorbar([i], [v[i]], yerr=[float(spread[n])], color="k", capsize=4, lw=0, elinewidth=1)
            if not np.isfinite(v[i]):
                ax.annotate("n/a", (i, 0.0), ha="center", va="bottom", fontsize=8, color="C3")
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def compare_cosine_figure(cosines: dict):
    """Gradient cosine (analog EP estimate against the digital one, at initialization) per layer,
    grouped bars per variant (``{variant: [cosine per layer]}``); a dashed line at 1 (the
    digital gradient's direction). None when no variant has one."""
    cosines = {k: v for k, v in cosines.items() if v and any(c is not None for c in v)}
    if not cosines:
        return None
    plt = _plt()
    names = list(cosines)
    layers = max(len(v) for v in cosines.values())
    width = 0.8 / layers
    fig, ax = plt.subplots(figsize=SMALL, dpi=DPI)
    for k in range(layers):
        v = [cosines[n][k] if k < len(cosines[n]) and cosines[n][k] is not None else np.nan for n in names]
        xs = np.arange(len(names)) + (k - (layers - 1) / 2) * width
        ax.bar(xs, np.nan_to_num(v), width=width * 0.9, color=f"C{k % 10}", label=f"layer {k}")
        for xv, c in zip(xs, v):
            if np.isfinite(c):
                ax.annotate(fmt_value(c), (xv, min(c, 1.0)), xytext=(0, -10), textcoords="offset points",
                            ha="center", va="top", fontsize=7, color="w")
    ax.axhline(1.0, ls="--", lw=0.8, color="k")
    ax.set_xticks(np.arange(len(names)))
    ax.set_xticklabels(names, fontsize=8)
    ax.set_ylabel("cosine to the digital gradient")
    ax.set_ylim(min(0.0, float(np.nanmin([c for v in cosines.values() for c in v if c is not None]))) - 0.05, 1.08)
    ax.set_title("gradient cosine per layer at initialization (mean over seeds)", fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def compare_curves_figure(curves: dict):
    """Test accuracy per epoch for each variant: ``{variant: [epoch-array, ...] per seed of
    accuracy arrays}`` as the mean over seeds with a min-max band."""
    plt = _plt()
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=SMALL, dpi=DPI)
    for i, (variant, runs) in enumerate(curves.items()):
        n = min(len(r) for r in runs)
        if n == 0:
            continue
        a = np.stack([np.asarray(r[:n], dtype=np.float64) for r in runs])
        epochs = np.arange(1, n + 1)
        ax.plot(epochs, np.nanmean(a, axis=0), "-o", ms=3, color=f"C{i % 10}", label=f"{variant} ({len(runs)})")
        if len(runs) > 1:
            ax.fill_between(epochs, np.nanmin(a, axis=0), np.nanmax(a, axis=0), color=f"C{i % 10}", alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy")
    ax.set_title("test accuracy per epoch (mean, band: min-max over seeds)", fontsize=10)
    _int_x(ax)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def seed_curves_figure(curves: dict):
    """Test accuracy per epoch for each group of runs (``{name: [{epoch: accuracy}, ...] per
    run}``, drawn in that order): the mean over the runs on the epochs that every run evaluated,
    with a min-max band (an error bar when that is one epoch). Always a figure (empty axes when
    there is nothing to draw): the curves of ``analog-ep compare``."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, runs in curves.items():
        if not runs:
            continue
        epochs = sorted(set.intersection(*(set(c) for c in runs)))
        if not epochs:
            continue
        a = np.array([[c[e] for e in epochs] for c in runs])
        line, = ax.plot(epochs, a.mean(0), marker="o", ms=3, label=f"{name} (n={len(runs)})")
        if len(runs) > 1 and len(epochs) > 1:
            ax.fill_between(epochs, a.min(0), a.max(0), color=line.get_color(), alpha=0.2, lw=0)
        elif len(runs) > 1:  # one evaluated epoch: the band is an error bar
            m = a.mean(0)
            ax.errorbar(epochs, m, yerr=[m - a.min(0), a.max(0) - m], color=line.get_color(), capsize=3, lw=0,
                        elinewidth=1)
    _int_x(ax)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy")
    ax.set_title("test accuracy: mean and min-max over seeds")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
    return fig


# --------------------------------------------------------------------------------------- cost
_ENERGY_KEY = re.compile(r"^energy_(?P<phase>.+)_(?P<component>[a-z]+)_j$")
_LATENCY_KEY = re.compile(r"^latency_(?P<phase>.+)_s$")
_NOT_PHASES = ("per_sample",)  # ``latency_per_sample_s`` is the total, not a phase


def _last(a) -> float:
    a = np.asarray(a, dtype=np.float64).ravel()
    return float(a[-1]) if a.size else float("nan")


def cost_breakdown(ep: dict) -> tuple[dict, dict]:
    """The last epoch's energy per training sample by phase and component
    (``{phase: {component: J}}`` from the ``energy_<phase>_<component>_j`` columns of
    ``results.h5``, NaN = unknown) and latency per training sample by phase (``{phase: s}`` from
    ``latency_<phase>_s``), phases in column order; empty without those columns (digital or
    older runs)."""
    from ..hardware import COMPONENTS

    energy: dict[str, dict[str, float]] = {}
    latency: dict[str, float] = {}
    for key, values in ep.items():
        m = _ENERGY_KEY.match(key)
        if m and m["component"] in COMPONENTS:
            energy.setdefault(m["phase"], {})[m["component"]] = _last(values)
            continue
        m = _LATENCY_KEY.match(key)
        if m and m["phase"] not in _NOT_PHASES:
            latency[m["phase"]] = _last(values)
    return energy, latency


def cost_breakdown_figure(ep: dict):
    """Energy per training sample by phase (x) and component (stacked), last epoch (left), and
    latency per training sample by phase (right); a phase with an unknown part (a card without
    write physics) is marked ``?`` above its bar (the known parts are drawn). None without the
    breakdown columns."""
    from ..hardware import COMPONENTS

    energy, latency = cost_breakdown(ep)
    if not energy:
        return None
    plt = _plt()
    phases = list(energy)
    x = np.arange(len(phases))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(SMALL[0] * 1.25, SMALL[1] + 0.4), dpi=DPI,
                                 gridspec_kw={"width_ratios": [3, 2]})
    bottom = np.zeros(len(phases))
    unknown = np.zeros(len(phases), dtype=bool)
    for i, comp in enumerate(COMPONENTS):
        v = np.array([energy[p].get(comp, 0.0) for p in phases], dtype=np.float64)
        unknown |= ~np.isfinite(v)
        v = np.where(np.isfinite(v), v, 0.0)
        if (v > 0).any():
            a1.bar(x, v, bottom=bottom, color=f"C{i}", label=comp, width=0.6)
        bottom += v
    for j in np.flatnonzero(unknown):
        a1.annotate("?", (x[j], bottom[j]), ha="center", va="bottom", fontsize=10, color="C3")
    a1.set_xticks(x)
    a1.set_xticklabels(phases, fontsize=8)
    a1.set_ylabel("J per training sample")
    a1.set_title("energy by phase and component" + (" (?: part unknown)" if unknown.any() else ""), fontsize=10)
    a1.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    a1.grid(alpha=0.3, axis="y")
    a1.legend(fontsize=7)
    lp = [p for p in phases if p in latency] + [p for p in latency if p not in energy]
    t = np.array([latency[p] for p in lp], dtype=np.float64)
    a2.bar(np.arange(len(lp)), np.where(np.isfinite(t), t, 0.0), color="C7", width=0.6)
    for j in np.flatnonzero(~np.isfinite(t)):
        a2.annotate("?", (j, 0.0), ha="center", va="bottom", fontsize=10, color="C3")
    a2.set_xticks(np.arange(len(lp)))
    a2.set_xticklabels(lp, fontsize=8)
    a2.set_ylabel("s per training sample")
    a2.set_title("latency by phase", fontsize=10)
    a2.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    a2.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def pareto_front(energy, accuracy) -> list[bool]:
    """Which points are not dominated, a point being dominated when another has at most its
    energy and at least its accuracy, one of the two strictly (lower energy or higher accuracy is
    better; equal points do not dominate each other). O(n log n): sorted by energy, a point is on
    the front when its accuracy is the highest of its energy and higher than every accuracy at a
    strictly lower energy."""
    e = np.asarray(energy, dtype=np.float64).ravel()
    a = np.asarray(accuracy, dtype=np.float64).ravel()
    if e.shape != a.shape:
        raise ValueError(f"pareto_front: {e.size} energies but {a.size} accuracies")
    front = [False] * e.size
    order = np.argsort(e, kind="stable")
    best_below = -np.inf  # the best accuracy at a strictly lower energy
    i = 0
    while i < len(order):
        j = i
        while j < len(order) and e[order[j]] == e[order[i]]:
            j += 1
        group = order[i:j]
        top = a[group].max()
        for k in group:
            front[k] = bool(a[k] == top and a[k] > best_below)
        best_below = max(best_below, top)
        i = j
    return front


def plottable(points: list[dict]) -> list[dict]:
    """The points of an accuracy-energy figure it can draw: a finite positive energy (log x) and
    a finite accuracy."""
    return [p for p in points if p.get("energy") is not None and p.get("accuracy") is not None
            and math.isfinite(p["energy"]) and p["energy"] > 0 and math.isfinite(p["accuracy"])]


def accuracy_energy_figure(points: list[dict], title: str):
    """Test accuracy against energy per training sample (log x when the energies span a decade or
    more, else linear): ``points`` are ``{"label",
    "energy", "accuracy", "gpu"}`` (``gpu``: a GPU estimate, drawn as squares; chip figures as
    circles); the Pareto front (:func:`pareto_front` over all points) is ringed and joined by a
    step line; every point labelled. Points without a finite positive energy or a finite accuracy
    are left out; None when none is left."""
    pts = plottable(points)
    if not pts:
        return None
    plt = _plt()
    e = np.array([p["energy"] for p in pts])
    a = np.array([p["accuracy"] for p in pts])
    front = pareto_front(e, a)
    fig, ax = plt.subplots(figsize=(SMALL[0], SMALL[1] + 0.8), dpi=DPI)
    for gpu, marker, color, name in ((False, "o", "C0", "on the chip"), (True, "s", "C1", "GPU estimate")):
        sel = [i for i, p in enumerate(pts) if bool(p.get("gpu")) == gpu]
        if sel:
            ax.scatter(e[sel], a[sel], marker=marker, color=color, s=28, zorder=3, label=name)
    on = [i for i in np.argsort(e, kind="stable") if front[i]]
    ax.step(e[on], a[on], where="post", color="C3", lw=1, alpha=0.7, zorder=2)
    ax.scatter(e[on], a[on], s=110, facecolors="none", edgecolors="C3", lw=1.2, zorder=4, label="Pareto front")
    for i, p in enumerate(pts):
        ax.annotate(str(p["label"]), (e[i], a[i]), xytext=(4, 4), textcoords="offset points", fontsize=7)
    if e.max() >= 10 * e.min():
        ax.set_xscale("log")
    else:  # less than a decade: a linear axis, whose tick labels stay distinct
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0), useOffset=True)
    ax.set_xlabel("energy per training sample (J)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
