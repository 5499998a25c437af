"""Import graph of the analog_ep package: lines per module, import cycles and upward imports.

Usage: python benchmarks/scripts/import_graph.py [ROOT] [--json]
(ROOT: a checkout, default: this one). Every ``from``/``import`` of an analog_ep module counts,
top-level or inside a function (a function-level import still couples the two modules). A
cycle is a strongly connected component of more than one module. An upward import goes against
the layering of DESIGN section 3:
config/errors/compute <- synapses/analog/data/results/rundir <- models <- solvers <- algorithms
<- train <- study/report/bench <- cli.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

LAYERS = {"errors": 0, "compute": 0, "config": 0, "synapses": 1, "analog": 1, "data": 1, "results": 1,
          "rundir": 1, "hardware": 1, "models": 2, "solvers": 3, "algorithms": 4, "train": 5, "study": 6,
          "report": 6, "bench": 6, "cli": 7, "__main__": 8, "__init__": 8}


def module_name(path: Path, pkg: Path) -> str:
    rel = path.relative_to(pkg.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path, name: str, is_pkg: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                mod = base[:len(base) - node.level + 1] + (node.module.split(".") if node.module else [])
            else:
                mod = node.module.split(".") if node.module else []
            if mod and mod[0] == "analog_ep":
                out.add(".".join(mod))
                for a in node.names:
                    out.add(".".join(mod + [a.name]))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("analog_ep"):
                    out.add(a.name)
    return out


def analyse(root: Path) -> dict:
    pkg = root / "analog_ep"
    files = sorted(pkg.rglob("*.py"))
    mods = {module_name(f, pkg): f for f in files}
    lines = {m: sum(1 for _ in f.open()) for m, f in mods.items()}
    edges: dict[str, set[str]] = {}
    for m, f in mods.items():
        targets = set()
        for t in imports(f, m, f.name == "__init__.py"):
            while t and t not in mods:  # "pkg.mod.name" -> "pkg.mod"
                t = t.rsplit(".", 1)[0] if "." in t else ""
            if t and t != m and t != "analog_ep":
                targets.add(t)
        edges[m] = targets
    # strongly connected components (Tarjan), packages' __init__ re-exports excluded from cycles
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w == v or mods[w].name == "__init__.py":
                continue
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in mods:
        if v not in index:
            strong(v)

    def layer(m):
        parts = m.split(".")
        return LAYERS.get(parts[1] if len(parts) > 1 else "__init__", 8)

    upward = sorted(f"{a} -> {b}" for a, ts in edges.items() for b in ts
                    if layer(b) > layer(a) and mods[a].name != "__init__.py")
    by_package: dict[str, int] = {}
    for m, n in lines.items():
        key = m.split(".")[1] if m.count(".") >= 1 else m
        by_package[key] = by_package.get(key, 0) + n
    return {"modules": len(mods), "lines": sum(lines.values()), "lines_per_module": lines,
            "lines_per_package": dict(sorted(by_package.items())), "cycles": sccs, "upward_imports": upward}


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--json"]
    r = analyse(Path(args[0]) if args else Path(__file__).resolve().parents[2])
    if "--json" in sys.argv:
        print(json.dumps(r, indent=1))
    else:
        print(f"{r['modules']} modules, {r['lines']} lines")
        for k, v in r["lines_per_package"].items():
            print(f"  {k:12s} {v:6d}")
        print(f"cycles ({len(r['cycles'])}):", *r["cycles"], sep="\n  ")
        print(f"upward imports ({len(r['upward_imports'])}):", *r["upward_imports"], sep="\n  ")
