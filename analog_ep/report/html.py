"""``analog-ep report DIR [--out FILE.html]``: one static HTML page of figures and tables for a run
folder (``results.h5``), a sweep folder (``sweep.csv``) or a comparison folder (``compare.csv``).

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
import math
import os
import re
import shutil
from pathlib import Path
from urllib.parse import quote

import numpy as np
import yaml

from ..errors import AnalogEPError, ConfigError
from . import figures as F

KINDS = ("run", "sweep", "compare")
SUMMARY_KEYS = ("algorithm", "seed", "model.name", "model.hidden", "model.channels", "data.name", "data.train_size",
                "data.test_size", "data.batch_size", "train.epochs", "train.lr", "train.optimizer", "ep.estimator",
                "ep.beta", "solver.name", "solver.free_iters", "solver.nudge_iters", "analog.device",
                "analog.update", "analog.pulse_scheme", "analog.mapping", "analog.omega", "analog.weight_range")

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
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums}
.scroll{overflow-x:auto}
pre{background:#f6f6f6;border:1px solid #e4e4e4;padding:8px;font-size:.8em;overflow-x:auto}
.note{color:#8a5a00;font-size:.9em}
"""

_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) { if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++; }
  document.body.setAttribute("data-images-ok", ok + "/" + imgs.length);
});
"""


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _fmt(v) -> str:
    """A table cell: numbers with 4 significant digits (integers as they are)."""
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return "nan" if not math.isfinite(v) else (str(int(v)) if float(v).is_integer() and abs(v) < 1e15
                                                     else f"{v:.4g}")
    if isinstance(v, str):
        try:
            x = float(v)
        except ValueError:
            return v
        if re.fullmatch(r"[+-]?\d+", v.strip()):
            return v
        return _fmt(x)
    return yaml.safe_dump(v, default_flow_style=True).strip()


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

    def table(self, header: list[str], rows: list[list], numeric: bool = True) -> None:
        head = "".join(f"<th>{_e(h)}</th>" for h in header)
        body = []
        for r in rows:
            cells = []
            for v in r:
                s = _fmt(v)
                cls = ' class="num"' if numeric and _is_num(s) else ""
                cells.append(f"<td{cls}>{_e(s)}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        self.add(f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>')

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
                          "(sweep.csv) or a compare folder (compare.csv)")
    if not folder.is_dir():
        raise ConfigError(f"{folder}: not a folder; pass a run folder (results.h5), a sweep folder "
                          "(sweep.csv) or a compare folder (compare.csv)")
    if (folder / "compare.csv").is_file():
        return "compare"
    if (folder / "sweep.csv").is_file():
        return "sweep"
    if (folder / "results.h5").is_file():
        return "run"
    raise ConfigError(f"{folder}: not a run, sweep or compare folder (no results.h5, sweep.csv or compare.csv)")


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


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


def build_run(page: Page, folder: Path, stem: str = "") -> dict:
    from ..results import read_results

    res = read_results(folder / "results.h5")
    ep = res["epochs"]
    cfg = yaml.safe_load(res["config_yaml"]) or {}
    flat = _flatten(cfg)
    analog = flat.get("analog.device") is not None
    test = ep.get("test_accuracy", np.array([]))
    test = test[np.isfinite(test)] if len(test) else test
    epochs = len(ep.get("epoch", []))
    info = {"status": res["status"], "epochs": epochs, "device": res["device"] or "digital",
            "final test accuracy": float(test[-1]) if len(test) else None,
            "best test accuracy": float(test.max()) if len(test) else None}

    page.heading("Summary")
    page.table(["key", "value"], [[k, v] for k, v in info.items()]
               + [[k, flat[k]] for k in SUMMARY_KEYS if k in flat and flat[k] is not None])

    page.heading("Training")
    page.figure(F.training_curves_figure(ep), f"{stem}training", "Train and test accuracy and loss per epoch")
    page.figure(F.relaxation_figure(ep), f"{stem}relaxation",
                "Mean relaxation steps and converged fraction per phase per epoch")
    if not epochs:
        page.note("no finished epoch yet: nothing to plot")
    _run_cost(page, ep, stem)

    if analog:
        page.heading(f"Analog device: {res['device'] or flat.get('analog.device')}")
        ckpt = None
        ckpt_path = folder / "checkpoint.pt"
        if ckpt_path.is_file():
            from ..train.checkpoint import load_checkpoint

            try:
                ckpt = load_checkpoint(ckpt_path)
            except AnalogEPError as e:
                page.note(f"checkpoint.pt unreadable ({e}): conductance and wear histograms left out")
        else:
            page.note("no checkpoint.pt: conductance and wear histograms left out")
        layers = _storages(ckpt.get("model", {})) if ckpt else {}
        page.figure(F.histograms_figure({k: v["w_dev"] for k, v in layers.items() if "w_dev" in v},
                                        "w_dev (device units)", "Conductances (w_dev) per layer"),
                    f"{stem}conductance", "Device weights w_dev per layer, from checkpoint.pt")
        page.figure(F.pulses_figure(ep), f"{stem}pulses", "Pulses sent to each layer per epoch")
        page.figure(F.histograms_figure({k: v["wear"] for k, v in layers.items() if "wear" in v},
                                        "pulses per device", "Wear: pulses per device per layer", log_y=True),
                    f"{stem}wear", "Wear (pulses received by each device, all epochs) per layer, log counts")
        card = None
        try:
            card = _card(ckpt, res["extra"])
        except AnalogEPError as e:
            page.note(f"device card unreadable ({e}): pulse response left out")
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
                                          ["description", " ".join(card.description.split())]], numeric=False)
            page.pre(yaml.safe_dump(card.to_dict(), sort_keys=False), "card parameters (YAML)")
        elif res["extra"].get("device_source"):
            page.table(["key", "value"], [["source", res["extra"]["device_source"]]], numeric=False)

    page.heading("Configuration")
    page.pre(res["config_yaml"], "full resolved config (YAML)")
    prov = res.get("provenance") or {}
    if prov:
        page.table(["provenance", "value"], [[k, v] for k, v in prov.items()], numeric=False)
    return {"status": res["status"], "epochs": epochs, "device": res["device"]}


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
    try:
        return os.path.relpath(value, base) if value else value
    except ValueError:
        return value


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
    page.table(["key", "value"], [["points", len(rows)], ["with a test accuracy", len(done)],
                                  ["swept keys", ", ".join(axes) or "(seeds only)"],
                                  ["seeds", ", ".join(dict.fromkeys(r.get("seed", "") for r in rows))]]
               + [[f"status {k}", v] for k, v in statuses.items()], numeric=False)
    page.heading("Accuracy")
    if not done:
        page.note("no point has a test accuracy yet: nothing to plot")
    elif len(axes) == 2:
        page.figure(F.sweep_heatmap_figure(done, axes[0], axes[1]), "sweep_heatmap",
                    f"Mean test accuracy over seeds: {axes[1]} against {axes[0]}")
    elif axes:
        for i, key in enumerate(axes):
            pooled = " (other swept keys pooled)" if len(axes) > 1 else ""
            page.figure(F.sweep_axis_figure(done, key), f"sweep_axis{i}",
                        f"Test accuracy against {key}: seeds as dots, mean with min-max bars{pooled}")
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
                    "Test accuracy against energy per training sample (log scale), mean over seeds per point; "
                    "Pareto front ringed; GPU estimates as squares for digital points")
        _pareto_note(page, points)
    page.heading("Table (sweep.csv)")
    shown = [c for c in columns if c != "error"] + (["error"] if any(r.get("error") for r in rows) else [])
    page.table(shown, [[_short_folder(r.get(c, ""), folder) if c == "folder" else r.get(c, "") for c in shown]
                       for r in rows])
    spec = folder / "spec.yaml"
    if spec.is_file():
        try:
            page.pre(spec.read_text(), "spec.yaml")
        except (OSError, UnicodeDecodeError):
            pass
    return {"points": len(rows), "axes": axes}


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


def build_compare(page: Page, folder: Path) -> dict:
    columns, rows = _read_csv(folder / "compare.csv")
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
                    "Mean test accuracy against mean energy per training sample (log scale): the variants on the "
                    "chip (circles) and the GPU estimates of the digital variants (squares); Pareto front ringed")
        _pareto_note(page, points)
    page.heading("Table (compare.csv)")
    page.table(columns, [[r.get(c, "") for c in columns] for r in rows])
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
    extra = {"run": build_run, "sweep": build_sweep, "compare": build_compare}[kind](page, folder)
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
