"""``analog-ep report DIR [--out FILE.html]``: one static HTML page of figures and tables for a run
folder (``results.h5``; with its deployments ``deploy/*/deploy.json``), a sweep folder
(``sweep.csv``), a comparison folder (``compare.csv``) or a deploy folder (``deploy.json``, the
output of ``analog-ep deploy``).

Every figure is written as PNG and SVG to ``<page stem>_files/`` next to the page (default
``DIR/report.html`` and ``DIR/report_files/``) and embedded by relative path (``<img src>``) with
a link to its SVG; the page loads nothing from the network. A tiny inline script writes
``data-images-ok="N/M"`` on ``<body>`` once the page has loaded (N of the M images decoded), for
headless checks. The page is written to a temporary file and renamed.
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import shutil
from pathlib import Path
from urllib.parse import quote

import numpy as np
import yaml

from ..config.typed import flatten
from ..errors import AnalogEPError, ConfigError
from . import figures as F
from .figures import fmt_value

KINDS = ("run", "sweep", "compare", "deploy")
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5em auto;max-width:1200px;
 padding:0 1em;color:#222;background:#fff}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;border-bottom:1px solid #ddd;padding-bottom:.2em;
 margin-top:1.6em}.sub{color:#666;margin-top:0}
.figs{display:flex;flex-wrap:wrap;gap:14px}
figure{margin:0;flex:1 1 520px;max-width:800px;border:1px solid #e4e4e4;border-radius:4px;padding:6px;
 background:#fafafa}
figure img{width:100%;height:auto;display:block;background:#fff}
figcaption{font-size:.85em;color:#444;margin-top:4px}
table{border-collapse:collapse;font-size:.85em;margin:.4em 0}
th,td{border:1px solid #ddd;padding:3px 5px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.scroll{overflow-x:auto}.sub{overflow-wrap:anywhere}
td.path{max-width:11em;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
td.text{max-width:30em;overflow-wrap:anywhere}
.summary{display:grid;grid-template-columns:repeat(auto-fill,minmax(15em,1fr));gap:4px 18px;margin:.4em 0;
 font-size:.9em}.summary div{border-bottom:1px dotted #ddd;padding:2px 0;overflow-wrap:anywhere}
.summary b{color:#555;font-weight:600;margin-right:.4em}
pre{background:#f6f6f6;border:1px solid #e4e4e4;padding:8px;font-size:.8em;overflow-x:auto}
.note{color:#8a5a00;font-size:.9em}
"""

_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) { if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++; }
  document.body.setAttribute("data-images-ok", ok + "/" + imgs.length);
  var boxes = document.querySelectorAll(".scroll"), clipped = 0;
  for (var j = 0; j < boxes.length; j++) { if (boxes[j].scrollWidth > boxes[j].clientWidth + 1) clipped++; }
  document.body.setAttribute("data-layout", "scroll-width=" + document.documentElement.scrollWidth
    + " client-width=" + document.documentElement.clientWidth + " clipped-tables=" + clipped);
});
"""


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _is_num(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


class Page:
    """The page under construction: sections of HTML and the figures written so far."""

    def __init__(self, out: Path, title: str):
        self.out = out
        self.files = out.parent / f"{out.stem}_files"
        self.title = title
        self.parts: list[str] = []
        self.figures: list[Path] = []
        self._open_figs = False

    def _close_figs(self) -> None:
        if self._open_figs:
            self.parts.append("</div>")
            self._open_figs = False

    def add(self, text: str) -> None:
        self._close_figs()
        self.parts.append(text)

    def heading(self, text: str) -> None:
        self.add(f"<h2>{_e(text)}</h2>")

    def note(self, text: str) -> None:
        self.add(f'<p class="note">{_e(text)}</p>')

    def _rel(self, path: Path) -> str:
        return quote(os.path.relpath(path, self.out.parent).replace(os.sep, "/"))

    def image(self, png: Path, svg: Path | None, caption: str) -> None:
        if not self._open_figs:
            self.parts.append('<div class="figs">')
            self._open_figs = True
        link = f' &middot; <a href="{self._rel(svg)}">SVG</a>' if svg is not None else ""
        self.parts.append(f'<figure><img src="{self._rel(png)}" alt="{_e(caption)}" loading="eager">'
                          f'<figcaption>{_e(caption)}{link}</figcaption></figure>')
        self.figures.extend(p for p in (png, svg) if p is not None)

    def figure(self, fig, stem: str, caption: str) -> None:
        """Save ``fig`` (skipped when None) and embed it."""
        if fig is None:
            return
        png, svg = F.save_figure(fig, self.files, stem)
        self.image(png, svg, caption)

    def table(self, header: list[str], rows: list[list], numeric: bool = True, paths: tuple[str, ...] = (),
              texts: tuple[str, ...] = (), titles: dict[str, str] | None = None) -> None:
        """A table in its own horizontal scroll box (cells :func:`fmt_value`). Headers may break
        after ``_`` and ``.``; ``paths``: columns cut to one line with an ellipsis, the full
        value in the cell's ``title``; ``texts``: columns of prose that wrap anywhere;
        ``titles``: a tooltip per header."""
        titles = titles or {}

        def head_cell(h):
            t = f' title="{_e(titles[h])}"' if h in titles else ""
            return f"<th{t}>" + re.sub(r"([_.])", r"\1<wbr>", _e(h)) + "</th>"

        head = "".join(head_cell(h) for h in header)
        body = []
        for r in rows:
            cells = []
            for h, v in zip(header, r):
                s = fmt_value(v)
                if h in paths:
                    cells.append(f'<td class="path" title="{_e(s)}">{_e(s)}</td>')
                    continue
                cls = ' class="num"' if numeric and _is_num(s) else ' class="text"' if h in texts else ""
                cells.append(f"<td{cls}>{_e(s)}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        self.add(f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
                 '</table></div>')

    def summary(self, items: list[tuple[str, object]]) -> None:
        """A block of ``label: value`` pairs (values :func:`fmt_value`), as many per line as fit."""
        self.add('<div class="summary">' + "".join(f"<div><b>{_e(k)}</b>{_e(fmt_value(v))}</div>"
                                                   for k, v in items) + "</div>")

    def pre(self, text: str, summary: str | None = None) -> None:
        block = f"<pre>{_e(text.rstrip())}</pre>"
        self.add(f"<details><summary>{_e(summary)}</summary>{block}</details>" if summary else block)

    def html(self, subtitle: str) -> str:
        self._close_figs()
        return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                f"<title>{_e(self.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
                f"<h1>{_e(self.title)}</h1>\n<p class=\"sub\">{_e(subtitle)}</p>\n" + "\n".join(self.parts)
                + f"\n<script>{_SCRIPT}</script>\n</body>\n</html>\n")


# ------------------------------------------------------------------------------------ detect
def detect(folder: Path) -> str:
    """``compare``, ``sweep`` or ``run`` from the folder's files; ConfigError otherwise."""
    if not folder.exists():
        raise ConfigError(f"{folder}: folder not found; pass a run folder (results.h5), a sweep folder "
                          "(sweep.csv), a compare folder (compare.csv) or a deploy folder (deploy.json)")
    if not folder.is_dir():
        raise ConfigError(f"{folder}: not a folder; pass a run folder (results.h5), a sweep folder "
                          "(sweep.csv), a compare folder (compare.csv) or a deploy folder (deploy.json)")
    if (folder / "compare.csv").is_file():
        return "compare"
    if (folder / "sweep.csv").is_file():
        return "sweep"
    if (folder / "results.h5").is_file():
        return "run"
    if (folder / DEPLOY_FILE).is_file():
        return "deploy"
    raise ConfigError(f"{folder}: not a run, sweep, compare or deploy folder (no results.h5, sweep.csv, compare.csv "
                      "or deploy.json)")


# --------------------------------------------------------------------------------------- run
def _card(ckpt: dict | None, extra: dict):
    """The run's device card: the checkpoint's record, else the results file's card YAML."""
    from ..analog.cards import card_from_dict

    if ckpt is not None and isinstance(ckpt.get("device"), dict) and "card" in ckpt["device"]:
        d = ckpt["device"]
        return card_from_dict(d["card"], d["name"], d["path"])
    if extra.get("device_card_yaml"):
        return card_from_dict(yaml.safe_load(extra["device_card_yaml"]), extra.get("device_name", "card"),
                              extra.get("device_path", ""))
    return None


def _storages(state: dict) -> dict[str, dict]:
    """``{layer: {"w_dev": array, "wear": array}}`` for the analog storages in a state dict."""
    out: dict[str, dict] = {}
    for k, v in state.items():
        for field in ("w_dev", "wear"):
            suffix = f".storage.{field}"
            if k.endswith(suffix) and hasattr(v, "numpy"):
                out.setdefault(k[: -len(suffix)], {})[field] = v.detach().cpu().double().numpy()
    return out


def _get(cfg: dict, key: str):
    d = cfg
    for part in key.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def _optimizer_lrs(ckpt: dict | None) -> list[float] | None:
    """The base learning rate of each weight layer as the run's optimizer held it (the
    checkpoint's optimizer param groups, input side first); None without a checkpoint."""
    try:
        groups = ckpt["optimizer"]["param_groups"]
        return [float(g.get("base_lr", g["lr"])) for g in groups]
    except (KeyError, TypeError, ValueError):
        return None


def _bits(v) -> str:
    return "unquantized" if v is None else f"{v} bits"


def run_settings(cfg: dict, extra: dict, ckpt: dict | None) -> list[tuple[str, object]]:
    """The settings a run ran with, for its summary: the model, data and training keys, the
    learning rate of each layer as its optimizer held it, the relaxation (EP) or ``pc.*`` (PC)
    keys of its algorithm, and for a run on tiles only the card, the update, the mapping, the
    effective DAC and ADC bits (the periphery in effect, ``periphery_yaml``) and the conductance
    window; nothing analog for a digital run."""
    algo = cfg.get("algorithm", "ep")
    out: list[tuple[str, object]] = [("algorithm", algo), ("seed", cfg.get("seed"))]
    for k in ("model.name", "model.hidden", "model.channels", "data.name", "data.train_size", "data.test_size",
              "data.batch_size", "train.epochs", "train.optimizer", "train.lr", "train.lr_scaling",
              "train.schedule", "train.momentum", "train.weight_decay"):
        v = _get(cfg, k)
        if v is not None and v != []:
            out.append((k, v))
    lrs = _optimizer_lrs(ckpt) or _get(cfg, "train.layer_lrs")
    if lrs:
        out.append(("learning rate per layer (as run)", list(lrs)))
    if algo == "ep":
        out += [(k, _get(cfg, k)) for k in ("ep.estimator", "ep.beta", "ep.nudge", "solver.name", "solver.free_iters",
                                           "solver.nudge_iters", "solver.tol", "solver.stop")
                if _get(cfg, k) is not None]
    elif algo == "pc":
        out += sorted((f"pc.{k}", v) for k, v in (cfg.get("pc") or {}).items() if v is not None)
    if _get(cfg, "analog.device") is None:
        return out
    periph = {}
    if extra.get("periphery_yaml"):
        try:
            periph = yaml.safe_load(extra["periphery_yaml"]) or {}
        except yaml.YAMLError:
            periph = {}
    for k in ("analog.device", "analog.relaxation", "analog.update", "analog.pulse_scheme", "analog.mapping",
              "analog.omega", "analog.weight_range", "analog.seed"):
        v = _get(cfg, k)
        if v is not None:
            out.append((k, v))
    if periph:
        out += [("DAC (effective)", _bits(periph.get("inp_bits"))), ("ADC (effective)", _bits(periph.get("out_bits")))]
    if extra.get("device_card_yaml"):
        try:
            card = yaml.safe_load(extra["device_card_yaml"]) or {}
        except yaml.YAMLError:
            card = {}
        if isinstance(card, dict) and card.get("g_max_us") is not None:
            out.append(("conductance window", f"{fmt_value(card.get('g_min_us', 0.0))} - "
                                              f"{fmt_value(card['g_max_us'])} uS"))
    return out


def conductances_us(w_dev, card):
    """A layer's device values as the differential pair's conductance difference ``G+ - G-``
    in microsiemens (:func:`analog_ep.analog.pair.to_conductances`, the card's window), or None
    when the card has no conductance window."""
    import torch

    from ..analog.pair import to_conductances

    params = card.params
    if getattr(params, "g_max_us", None) is None or getattr(params, "g_min_us", None) is None:
        return None
    g_plus, g_minus = to_conductances(torch.as_tensor(w_dev, dtype=torch.float64), params)
    return (g_plus - g_minus).numpy()


def build_run(page: Page, folder: Path, stem: str = "") -> dict:
    from ..results import read_results

    res = read_results(folder / "results.h5")
    ep = res["epochs"]
    cfg = yaml.safe_load(res["config_yaml"]) or {}
    flat = flatten(cfg)
    analog = flat.get("analog.device") is not None
    test = ep.get("test_accuracy", np.array([]))
    test = test[np.isfinite(test)] if len(test) else test
    epochs = len(ep.get("epoch", []))
    ckpt = None
    ckpt_note = None
    ckpt_path = folder / "checkpoint.pt"
    if ckpt_path.is_file():
        from ..train.checkpoint import load_checkpoint

        try:
            ckpt = load_checkpoint(ckpt_path)
        except AnalogEPError as e:
            ckpt_note = f"checkpoint.pt unreadable ({e}): conductance and wear histograms left out"
    else:
        ckpt_note = "no checkpoint.pt: conductance and wear histograms left out"
    info = {"status": res["status"], "epochs": epochs, "device": res["device"] or "digital",
            "final test accuracy": float(test[-1]) if len(test) else None,
            "best test accuracy": float(test.max()) if len(test) else None}
    if res["extra"].get("unhealthy_reason"):
        info["unhealthy"] = res["extra"]["unhealthy_reason"]

    page.heading("Summary")
    page.summary(list(info.items()))
    page.add("<h3>Settings that ran</h3>")
    page.summary(run_settings(cfg, res["extra"], ckpt))

    page.heading("Training")
    page.figure(F.training_curves_figure(ep), f"{stem}training", "Train and test accuracy and loss per epoch")
    criteria = {F.stop_fraction(ep, p)[1] for p in F.PHASES} - {""}
    crit = ("settled = residual below solver.tol or on the read-noise floor (solver.stop: noise_floor)"
            if "settled" in criteria else "")
    crit += ("; " if crit and "converged" in criteria else "") + (
        "converged = residual below solver.tol" if "converged" in criteria else "")
    page.figure(F.relaxation_figure(ep), f"{stem}relaxation",
                "Mean relaxation steps (top) and the fraction of samples that stopped on their criterion "
                f"(bottom) per epoch; free vs eval left, nudge+ vs nudge- right ({crit or 'no fraction stored'})")
    page.figure(F.energy_traces_figure(res.get("traces") or {}), f"{stem}energy",
                "Energy traces stored in results.h5: EP on a PCN, the total energy at each nudged iteration; "
                "PC, each layer's energy at each activity step (mean over the epoch's batches; light: first "
                "epoch, dark: last)")
    if not epochs:
        page.note("no finished epoch yet: nothing to plot")
    _run_cost(page, ep, stem)

    if analog:
        page.heading(f"Analog device: {res['device'] or flat.get('analog.device')}")
        if ckpt_note:
            page.note(ckpt_note)
        layers = _storages(ckpt.get("model", {})) if ckpt else {}
        card = None
        try:
            card = _card(ckpt, res["extra"])
        except AnalogEPError as e:
            page.note(f"device card unreadable ({e}): pulse response left out")
        g = {k: conductances_us(v["w_dev"], card) for k, v in layers.items() if "w_dev" in v} if card else {}
        if g and all(v is not None for v in g.values()):
            page.figure(F.histograms_figure(g, "G+ - G- (uS)", "Conductances per layer (differential pair, uS)"),
                        f"{stem}conductance",
                        f"Conductance difference G+ - G- of each weight's pair in uS (card window "
                        f"{fmt_value(card.params.g_min_us)} - {fmt_value(card.params.g_max_us)} uS), from "
                        "checkpoint.pt")
        else:
            page.figure(F.histograms_figure({k: v["w_dev"] for k, v in layers.items() if "w_dev" in v},
                                            "w_dev (device units)", "Conductances (w_dev) per layer"),
                        f"{stem}conductance", "Device weights w_dev per layer (the card has no conductance "
                                              "window), from checkpoint.pt")
        page.figure(F.pulses_figure(ep), f"{stem}pulses", "Pulses sent to each layer per epoch")
        page.figure(F.histograms_figure({k: v["wear"] for k, v in layers.items() if "wear" in v},
                                        "pulses per device", "Wear: pulses per device per layer", log_y=True,
                                        counts=True),
                    f"{stem}wear", "Wear (pulses received by each device, all epochs) per layer, log counts")
        if card is not None:
            from .device_plot import response_figure

            page.figure(response_figure(card, figsize=F.SMALL), f"{stem}card_response",
                        f"Pulse response of the card {card.name}: mean +- std over 100 devices, 5 single devices")
        drift_path = folder / "drift.json"
        if drift_path.is_file():
            try:
                drift = json.loads(drift_path.read_text())
                page.figure(F.drift_figure(drift), f"{stem}drift",
                            "Test accuracy against time after programming (drift.json), mean +- std over draws")
            except (OSError, ValueError, KeyError, TypeError) as e:
                page.note(f"drift.json unreadable ({e.__class__.__name__}): drift curves left out")
        if card is not None:
            page.add("<h3>Card</h3>")
            page.table(["key", "value"], [["name", card.name], ["path", card.path], ["rule", card.rule],
                                          ["states", card.implied_states],
                                          ["source", " ".join(card.source.split())],
                                          ["description", " ".join(card.description.split())]], numeric=False,
                       texts=("value",))
            page.pre(yaml.safe_dump(card.to_dict(), sort_keys=False), "card parameters (YAML)")
        elif res["extra"].get("device_source"):
            page.table(["key", "value"], [["source", res["extra"]["device_source"]]], numeric=False, texts=("value",))

    deployments = sorted(folder.glob(f"deploy/*/{DEPLOY_FILE}"))
    if deployments:
        page.heading("Deployments (analog-ep deploy)")
        for i, path in enumerate(deployments):
            _deploy_section(page, path, f"{stem}deploy{i}", folder)

    page.heading("Configuration")
    page.pre(res["config_yaml"], "full resolved config (YAML)")
    prov = res.get("provenance") or {}
    if prov:
        page.table(["provenance", "value"], [[k, v] for k, v in prov.items()], numeric=False, texts=("value",))
    return {"status": res["status"], "epochs": epochs, "device": res["device"]}


# ------------------------------------------------------------------------------------ deploy
DEPLOY_FILE = "deploy.json"


def _read_deploy(path: Path) -> dict:
    try:
        r = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: unreadable deployment ({e.__class__.__name__}: {e})") from e
    if not isinstance(r, dict) or "accuracy_mean" not in r:
        raise ConfigError(f"{path}: not a deployment written by analog-ep deploy (no accuracy_mean)")
    return r


def _deploy_section(page: Page, path: Path, stem: str, base: Path) -> dict:
    """One deployment: what was programmed where, accuracy as programmed and over time (with and
    without global drift compensation), the table of its evaluations and why accuracy can rise
    as the weights shrink (drifting cards)."""
    try:
        r = _read_deploy(path)
    except ConfigError as e:
        page.note(str(e))
        return {}
    page.add(f"<h3>{_e(r.get('device_name', r.get('device', '?')))}: {_e(_short_folder(str(path.parent), base))}</h3>")
    page.summary([("run", r.get("run")), ("trained on", r.get("trained_on")), ("epochs", r.get("epochs")),
                  ("trained accuracy", r.get("trained_accuracy")), ("deployed on", r.get("device_name")),
                  ("overrides", " ".join(r.get("set") or []) or "none"), ("repeats", r.get("repeats")),
                  ("as programmed", f"{fmt_value(r.get('accuracy_mean'))} +- {fmt_value(r.get('accuracy_std'))}"),
                  ("drift nu", f"{fmt_value(r.get('drift_nu'))} +- {fmt_value(r.get('drift_nu_std'))}"
                   if r.get("has_drift") else "no drift")])
    page.figure(F.deploy_figure(r), stem,
                "Test accuracy against the time after programming (log s), mean +- std over the repeats, "
                "without and with global drift compensation; dotted: as programmed, dashed: the trained network")
    if r.get("rows"):
        page.table(["t (s)", "compensation", "accuracy mean", "accuracy std"],
                   [[x.get("t_s"), x.get("compensation"), x.get("accuracy_mean"), x.get("accuracy_std")]
                    for x in r["rows"]])
        from ..study.deploy import NOTE

        page.add(f"<p><b>Why accuracy can rise as the weights shrink.</b> {_e(NOTE)}</p>")
    else:
        page.add(f"<p>{_e(r.get('note', ''))}</p>")
    return r


def build_deploy(page: Page, folder: Path) -> dict:
    r = _deploy_section(page, folder / DEPLOY_FILE, "deploy", folder)
    if r.get("config_yaml"):
        page.heading("Deploy configuration")
        page.pre(r["config_yaml"], "the deploy config (YAML)")
    return {"device": r.get("device_name"), "has_drift": r.get("has_drift")}


COST_ROWS = (("energy per training sample", "energy_per_sample_j", "J"),
             ("latency per training sample", "latency_per_sample_s", "s"),
             ("energy per inference", "inference_energy_per_sample_j", "J"),
             ("latency per inference", "inference_latency_per_sample_s", "s"),
             ("chip area", "area_mm2", "mm2"),
             ("GPU estimate: energy per training sample", "gpu_energy_per_sample_j", "J"),
             ("GPU estimate: latency per training sample", "gpu_latency_per_sample_s", "s"))
"""The run page's cost table: label, ``results.h5`` per-epoch column, unit."""


def _run_cost(page: Page, ep: dict, stem: str) -> None:
    """The "Cost of the learning" section of a run (issue 19): the last epoch's headline figures
    and, for a run on tiles, the energy breakdown by phase and component with the latency per
    phase. Left out for a results file without cost columns (older runs)."""
    from ..study.costcols import fmt_cost, last_epoch

    present = [(label, key, unit) for label, key, unit in COST_ROWS if key in ep]
    if not present or not len(ep.get("epoch", [])):
        return
    page.heading("Cost of the learning (last epoch)")
    page.table(["figure", "value"], [[label, fmt_cost(last_epoch(ep, key), unit) if last_epoch(ep, key) is not None
                                      else "unknown"] for label, key, unit in present], numeric=False)
    page.figure(F.cost_breakdown_figure(ep), f"{stem}cost_breakdown",
                "Energy per training sample by phase and component (stacked) and latency per training sample "
                "by phase, on the chip, last epoch")


def _pareto_note(page: Page, points: list[dict]) -> None:
    """One line naming the Pareto-optimal points of an accuracy-energy figure."""
    pts = F.plottable(points)
    if pts:
        front = F.pareto_front([p["energy"] for p in pts], [p["accuracy"] for p in pts])
        page.note("Pareto front (no other point has higher accuracy at lower energy): "
                  + ", ".join(str(p["label"]) for p, f in zip(pts, front) if f))


def sweep_cost_points(columns: list[str], rows: list[dict], axes: list[str]) -> list[dict]:
    """The points of a sweep's accuracy-energy figure from ``sweep.csv``: one per swept
    assignment (mean over its seeds of test accuracy and energy per training sample), labelled by
    its swept values (the seed without axes); on the chip where the points have an area (analog),
    the GPU estimate for digital points (no area). Empty without the cost columns (older sweeps)."""
    if "energy_per_sample_j" not in columns and "gpu_energy_per_sample_j" not in columns:
        return []
    short = {k: k.rsplit(".", 1)[-1] for k in axes}
    if len(set(short.values())) < len(short):
        short = {k: k for k in axes}
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        key = tuple(r.get(k, "") for k in axes) if axes else (r.get("seed", ""),)
        groups.setdefault(key, []).append(r)
    points = []
    for key, rs in groups.items():
        label = ", ".join(f"{short[k]}={v}" for k, v in zip(axes, key)) if axes else f"seed {key[0]}"
        accs = [x for x in (F._as_number(r.get("test_accuracy")) for r in rs) if x is not None]
        chip = any(F._as_number(r.get("area_mm2")) is not None for r in rs)
        col = "energy_per_sample_j" if chip else "gpu_energy_per_sample_j"
        es = [x for x in (F._as_number(r.get(col)) for r in rs) if x is not None]
        if accs and es:
            points.append({"label": label, "energy": sum(es) / len(es), "accuracy": sum(accs) / len(accs),
                           "gpu": not chip})
    return points


def compare_cost_points(rows: list[dict]) -> list[dict]:
    """The points of a comparison's accuracy-energy figure from ``compare.csv``: each variant's
    mean test accuracy against its mean energy per training sample on the chip (variants on
    tiles) or its GPU estimate (digital variants, labelled ``(GPU)``). Empty without the cost
    columns (older comparisons)."""
    points = []
    for r in rows:
        acc = F._as_number(r.get("test_accuracy_mean"))
        chip = F._as_number(r.get("energy_per_sample_j_mean"))
        gpu = F._as_number(r.get("gpu_energy_per_sample_j_mean"))
        if acc is None or (chip is None and gpu is None):
            continue
        name = r.get("name", "")
        points.append({"label": name if chip is not None else f"{name} (GPU)",
                       "energy": chip if chip is not None else gpu, "accuracy": acc, "gpu": chip is None})
    return points


# ------------------------------------------------------------------------------------- sweep
def _read_csv(path: Path) -> tuple[list[str], list[dict]]:
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            return list(reader.fieldnames or []), rows
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ConfigError(f"{path}: unreadable table ({e.__class__.__name__}: {e})") from e


def _short_folder(value: str, base: Path) -> str:
    """A point's folder as the table shows it: relative to the study folder when inside it, else
    as it is (the cell's ``title`` holds the full path)."""
    if not value:
        return value
    try:
        rel = os.path.relpath(value, base)
    except ValueError:
        return value
    return value if rel.startswith("..") else rel


def seeds_text(seeds: list) -> str:
    """``1 seed (0)``, ``3 seeds (0, 1, 2)``: how many seeds and which."""
    seeds = [str(x) for x in dict.fromkeys(seeds) if str(x) != ""]
    return f"{len(seeds)} seed{'' if len(seeds) == 1 else 's'} ({', '.join(seeds)})" if seeds else "no seed"


DIGITAL_VALUES = ("", "null", "none", "None", "digital")
"""Values of a swept ``analog.device`` that make a point digital."""


def is_digital_point(row: dict, axes: list[str]) -> bool:
    """A sweep point trained digitally: its swept ``analog.device`` is null, or (no such axis) it
    has a GPU energy estimate and no chip area (the cost columns fill one or the other)."""
    if "analog.device" in axes:
        return str(row.get("analog.device", "")).strip() in DIGITAL_VALUES
    return F._as_number(row.get("gpu_energy_per_sample_j")) is not None and F._as_number(row.get("area_mm2")) is None


def sweep_baseline(rows: list[dict], axes: list[str]) -> tuple[list[dict], list[float]]:
    """Split a sweep's finished points into those on tiles and the digital baseline (the test
    accuracies of its digital points) when it has both; ``(rows, [])`` otherwise."""
    digital = [r for r in rows if is_digital_point(r, axes)]
    if not digital or len(digital) == len(rows):
        return rows, []
    return ([r for r in rows if not is_digital_point(r, axes)],
            [F._as_number(r.get("test_accuracy")) for r in digital])


def build_sweep(page: Page, folder: Path) -> dict:
    columns, rows = _read_csv(folder / "sweep.csv")
    if "seed" not in columns:
        raise ConfigError(f"{folder / 'sweep.csv'}: not a sweep table (no seed column)")
    axes = columns[: columns.index("seed")]
    done = [r for r in rows if F._as_number(r.get("test_accuracy")) is not None]
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[r.get("status", "")] = statuses.get(r.get("status", ""), 0) + 1
    page.heading("Summary")
    page.summary([("points", len(rows)), ("with a test accuracy", len(done)),
                  ("swept keys", ", ".join(axes) or "(seeds only)"),
                  ("seeds", seeds_text([r.get("seed", "") for r in rows]))]
                 + [(f"status {k}", v) for k, v in statuses.items()])
    page.heading("Accuracy")
    tiles, baseline = sweep_baseline(done, axes)
    varied = [k for k in axes if len({r.get(k, "") for r in tiles}) > 1]
    line_axes = [k for k in varied if not (baseline and k == "analog.device")]
    base_note = " and the digital points' mean as a dashed reference line" if baseline else ""
    if not done:
        page.note("no point has a test accuracy yet: nothing to plot")
    elif line_axes:
        if len(axes) == 2:
            page.figure(F.sweep_heatmap_figure(done, axes[0], axes[1]), "sweep_heatmap",
                        f"Mean test accuracy over seeds: {axes[1]} against {axes[0]}")
        for i, key in enumerate(line_axes):
            others = [k for k in axes if k != key and not (baseline and k == "analog.device")]
            other = others[0] if len(others) == 1 else None
            pooled = f"; {', '.join(others)} pooled" if len(others) > 1 else ""
            per = f", one line per value of {other}" if other else ""
            page.figure(F.sweep_lines_figure(tiles, key, other, baseline), f"sweep_lines{i}",
                        f"Test accuracy against {key}{per}: mean over seeds, band min-max, seeds as dots"
                        f"{base_note}{pooled}")
        if len(axes) > 2:
            page.figure(F.sweep_heatmap_figure(done, axes[0], axes[1]), "sweep_heatmap",
                        f"Mean test accuracy: {axes[1]} against {axes[0]} (other keys pooled)")
    else:
        page.figure(F.sweep_axis_figure(done, "seed"), "sweep_seeds", "Test accuracy per seed")
    points = sweep_cost_points(columns, done, axes)
    if points:
        page.heading("Accuracy against energy")
        page.figure(F.accuracy_energy_figure(points, "test accuracy against energy per training sample (mean over "
                                                     "seeds)"), "sweep_accuracy_energy",
                    "Test accuracy against energy per training sample (log scale when it spans a decade), mean over "
                    "seeds per point; "
                    "Pareto front ringed; GPU estimates as squares for digital points")
        _pareto_note(page, points)
    deploy_csv = folder / "deploy.csv"
    if deploy_csv.is_file():
        _sweep_deploy(page, deploy_csv, axes)
    page.heading("Table (sweep.csv)")
    shown = [c for c in columns if c != "error"] + (["error"] if any(r.get("error") for r in rows) else [])
    page.table(shown, [[_short_folder(r.get(c, ""), folder) if c == "folder" else r.get(c, "") for c in shown]
                       for r in rows], paths=("folder",), texts=("error",))
    page.add('<p class="sub">folder: relative to the sweep folder; hover a cell for the full path</p>')
    spec = folder / "spec.yaml"
    if spec.is_file():
        try:
            page.pre(spec.read_text(), "spec.yaml")
        except (OSError, UnicodeDecodeError):
            pass
    return {"points": len(rows), "axes": axes}


def _sweep_deploy(page: Page, path: Path, axes: list[str]) -> None:
    """A sweep's deploy table (its spec's ``deploy:`` section, ``deploy.csv``): accuracy as
    programmed per point and card, and over time where the cards drift."""
    columns, rows = _read_csv(path)
    page.heading("Deployed (deploy.csv)")
    drift = [r for r in rows if F._as_number(r.get("t_s")) is not None]
    if drift:
        groups: dict[str, list[dict]] = {}
        repeats: dict[str, object] = {}
        for r in drift:
            label = ", ".join(f"{k}={r.get(k, '')}" for k in (*axes, "seed")) + f" on {r.get('device', '')}"
            repeats[label] = fmt_value(r.get("repeats", ""))
            groups.setdefault(label, []).append({"t_s": float(r["t_s"]), "compensation": r.get("compensation"),
                                                 "accuracy_mean": float(r["accuracy_mean"]),
                                                 "accuracy_std": F._as_number(r.get("accuracy_std")) or 0.0})
        for i, (label, rs) in enumerate(list(groups.items())[:8]):
            page.figure(F.deploy_figure({"rows": rs, "device_name": label, "repeats": repeats[label]}),
                        f"sweep_deploy{i}",
                        f"Deployed accuracy against the time after programming: {label}")
        from ..study.deploy import NOTE

        page.add(f"<p><b>Why accuracy can rise as the weights shrink.</b> {_e(NOTE)}</p>")
    page.table(columns, [[r.get(c, "") for c in columns] for r in rows], paths=("deploy_folder",), texts=("error",))


# ----------------------------------------------------------------------------------- compare
_VARIANT = re.compile(r"^(?P<variant>.+)-seed(?P<seed>\d+)$")


def _compare_curves(folder: Path) -> dict:
    from ..results import read_results

    curves: dict[str, list] = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        m = _VARIANT.match(sub.name)
        if not m or not (sub / "results.h5").is_file():
            continue
        try:
            ep = read_results(sub / "results.h5")["epochs"]
        except AnalogEPError:
            continue
        if "test_accuracy" in ep:
            curves.setdefault(m["variant"], []).append(ep["test_accuracy"])
    return curves


def _compare_seeds(folder: Path) -> dict[str, list[float]]:
    """Each variant's final test accuracy per seed, from its run folders ``<variant>-seed<k>``."""
    out: dict[str, list[float]] = {}
    for variant, runs in _compare_curves(folder).items():
        for a in runs:
            a = np.asarray(a, dtype=np.float64)
            a = a[np.isfinite(a)]
            if a.size:
                out.setdefault(variant, []).append(float(a[-1]))
    return out


def compare_summary(folder: Path, rows: list[dict]) -> list[tuple[str, object]]:
    """The comparison's summary from ``compare.yaml`` (the config all variants share and the
    seeds): model, dataset, card, epochs, seeds, images; the variants from the table."""
    items: list[tuple[str, object]] = []
    spec = folder / "compare.yaml"
    ident = {}
    if spec.is_file():
        try:
            ident = yaml.safe_load(spec.read_text()) or {}
        except (OSError, yaml.YAMLError):
            ident = {}
    cfg = ident.get("config") or {} if isinstance(ident, dict) else {}
    if cfg:
        items += [("model", _get(cfg, "model.name")), ("dataset", _get(cfg, "data.name")),
                  ("card", _get(cfg, "analog.device") or "digital"), ("epochs", _get(cfg, "train.epochs")),
                  ("train / test images", f"{fmt_value(_get(cfg, 'data.train_size'))} / "
                                          f"{fmt_value(_get(cfg, 'data.test_size'))}"),
                  ("seeds", seeds_text(ident.get("seeds") or []))]
    else:
        items.append(("compare.yaml", "missing: model, dataset and card unknown"))
    items.append(("variants", ", ".join(r.get("name", "") for r in rows)))
    return items


COMPARE_ROWS = (("status", "status"), ("seeds finished", None), ("test accuracy (mean)", "test_accuracy_mean"),
                ("test accuracy (std over seeds)", "test_accuracy_std"),
                ("train accuracy (mean)", "train_accuracy_mean"),
                ("seconds per epoch", "seconds_per_epoch_mean"),
                ("energy per training sample (J)", "energy_per_sample_j_mean"),
                ("latency per training sample (s)", "latency_per_sample_s_mean"), ("chip area (mm2)", "area_mm2_mean"),
                ("GPU estimate: energy per sample (J)", "gpu_energy_per_sample_j_mean"),
                ("GPU estimate: latency per sample (s)", "gpu_latency_per_sample_s_mean"))
"""The comparison table's rows (label, ``compare.csv`` column; the variants are its columns), then
pulses and gradient cosines per layer, the card and update, and errors."""


def compare_table(columns: list[str], rows: list[dict]) -> tuple[list[str], list[list]]:
    """``compare.csv`` turned on its side: one column per variant (so every variant stays on
    screen however many metric columns the table has), one row per metric; rows with no value
    in any variant are left out."""
    header = ["", *[r.get("name", "") for r in rows]]
    lines = []
    extra = [(c.replace("_", " "), c) for c in columns if c.startswith(("pulses_layer", "grad_cosine_layer"))]
    for label, col in (("device", "device"), ("update", "update"), *COMPARE_ROWS, *extra, ("error", "error")):
        if col is None:
            vals = [f"{r.get('finished', '')}/{r.get('seeds', '')}" for r in rows]
        elif col not in columns:
            continue
        else:
            vals = [r.get(col, "") for r in rows]
        if any(str(v).strip() for v in vals):
            lines.append([label, *vals])
    return header, lines


def build_compare(page: Page, folder: Path) -> dict:
    columns, rows = _read_csv(folder / "compare.csv")
    page.heading("Summary")
    page.summary(compare_summary(folder, rows))
    names = [r.get("name", "") for r in rows]
    num = {r.get("name", ""): r for r in rows}
    seeds = _compare_seeds(folder)
    page.heading("Final accuracy")
    page.figure(F.compare_bars_figure({n: F._as_number(num[n].get("test_accuracy_mean")) for n in names},
                                      "test accuracy", "final test accuracy per variant (mean; dots: seeds)",
                                      seeds=seeds, spread={n: F._as_number(num[n].get("test_accuracy_std"))
                                                           for n in names}),
                "compare_accuracy",
                "Final test accuracy per variant: bar = mean over seeds, dots = each seed with min-max bars "
                "(ep-deployed: the sample std over seeds)" + ("; ep-deployed = the ep-digital runs programmed onto "
                                                             "the tiles" if "ep-deployed" in names else ""))
    cos_cols = [c for c in columns if c.startswith("grad_cosine_layer")]
    cos = {n: [F._as_number(num[n].get(c)) for c in cos_cols] for n in names}
    page.figure(F.compare_cosine_figure(cos), "compare_grad_cosine",
                "Cosine between the analog EP gradient estimate and the digital one per layer, at initialization, "
                "mean over seeds (1 = the same direction)")
    pulse_cols = [c for c in columns if c.startswith("pulses_layer")]
    pulses = {n: {f"layer {c[len('pulses_layer'):]}": F._as_number(num[n].get(c)) or 0.0 for c in pulse_cols}
              for n in names if any(F._as_number(num[n].get(c)) for c in pulse_cols)}
    if pulses:
        page.figure(F.compare_bars_figure({n: None for n in pulses}, "pulses (all epochs)",
                                          "pulses per variant, stacked by layer (mean over seeds)", stacked=pulses),
                    "compare_pulses", "Pulses sent to the tiles per variant over the whole training, stacked by layer "
                                      "(mean over seeds); digital variants send none")
    page.heading("Curves")
    png = folder / "curves.png"
    if png.is_file():
        page.files.mkdir(parents=True, exist_ok=True)
        copies = []
        for src in (png, folder / "curves.svg"):
            if src.is_file():
                dst = page.files / src.name
                tmp = page.files / f".{src.name}.tmp"
                shutil.copyfile(src, tmp)
                os.replace(tmp, dst)
                copies.append(dst)
        page.image(copies[0], copies[1] if len(copies) > 1 else None, "Curves of the comparison (curves.png)")
    else:
        fig = F.compare_curves_figure(_compare_curves(folder))
        if fig is None:
            page.note("no curves.png and no run folders <variant>-seed<k> with results: no curves")
        page.figure(fig, "compare_curves", "Test accuracy per epoch per variant, redrawn from the run folders")
    points = compare_cost_points(rows)
    if points:
        page.heading("Accuracy against energy")
        page.figure(F.accuracy_energy_figure(points, "test accuracy against energy per training sample"),
                    "compare_accuracy_energy",
                    "Mean test accuracy against mean energy per training sample (log scale when it spans a "
                    "decade): the variants on the "
                    "chip (circles) and the GPU estimates of the digital variants (squares); Pareto front ringed")
        _pareto_note(page, points)
    page.heading("Table (compare.csv, one column per variant)")
    header, lines = compare_table(columns, rows)
    page.table(header, lines, texts=tuple(header[1:]))
    return {"rows": len(rows)}


# -------------------------------------------------------------------------------------- main
def render_report(folder: str | Path, out: str | Path | None = None) -> dict:
    """Render the page for ``folder`` to ``out`` (default ``folder/report.html``). Returns
    ``{"kind", "out", "files", "figures": [paths], ...}``."""
    folder = Path(folder)
    kind = detect(folder)
    out = Path(out) if out is not None else folder / "report.html"
    if out.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"--out: {out} must end in .html")
    if not out.parent.is_dir():
        raise ConfigError(f"--out: folder {out.parent} does not exist")
    name = folder.resolve().name
    page = Page(out, f"analog-ep {kind} report: {name}")
    build = {"run": build_run, "sweep": build_sweep, "compare": build_compare, "deploy": build_deploy}[kind]
    extra = build(page, folder)
    from .. import __version__

    import datetime

    subtitle = (f"{folder} - rendered {datetime.datetime.now().strftime('%Y-%m-%d %H:%M:%S')} "
                f"by analog-ep {__version__}")
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_text(page.html(subtitle), encoding="utf-8")
        os.replace(tmp, out)
    except OSError as e:
        raise ConfigError(f"--out: cannot write {out} ({e.__class__.__name__}: {e})") from e
    return {"kind": kind, "out": str(out), "files": str(page.files), "figures": [str(p) for p in page.figures],
            **extra}
