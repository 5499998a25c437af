"""DESIGN section 3, the dependency direction: a lower layer never imports a higher one. Read from
the source (every ``import`` / ``from`` statement, relative ones resolved against the module's
own package), so an import inside a function counts as much as one at the top."""

import ast
from pathlib import Path

import analog_ep

PKG = Path(analog_ep.__file__).parent
LOWER = ("config", "synapses", "analog", "models", "solvers", "algorithms")
HIGHER = {"train", "study", "report", "bench", "cli"}


def _imported_tops(src: str, own: tuple):
    """``(line, first package under analog_ep)`` for each import of this package in the source
    ``src`` of a module in the package ``own`` (its parts under analog_ep)."""
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.ImportFrom):
            mod = (node.module or "").split(".") if node.module else []
            if node.level:
                full = list(own[:len(own) - (node.level - 1)]) + mod
                names = [full] if mod else [full + [a.name] for a in node.names]
            elif mod[:1] == ["analog_ep"]:
                names = [mod[1:]] if len(mod) > 1 else [[a.name] for a in node.names]
            else:
                continue
        elif isinstance(node, ast.Import):
            names = [a.name.split(".")[1:] for a in node.names if a.name.split(".")[0] == "analog_ep"]
        else:
            continue
        for parts in names:
            if parts:
                yield node.lineno, parts[0]


def test_lower_layers_never_import_train_study_report_bench_or_the_cli():
    """Review of session 11: ``solvers/settle.py`` imported ``train.probe`` (the first-phase check
    now lives in ``train/first_phase.py``, next to its callers)."""
    bad = [f"{p.relative_to(PKG)}:{line} imports {top}" for layer in LOWER for p in sorted((PKG / layer).rglob("*.py"))
           for line, top in _imported_tops(p.read_text(), p.relative_to(PKG).parent.parts) if top in HIGHER]
    assert bad == []


def test_the_import_reader_resolves_relative_imports():
    """The reader itself, on a file it must flag (so the test above can fail)."""
    src = ("def f():\n    from ...train.probe import preserved\nfrom .. import base\n"
           "from analog_ep.study import runner\nimport analog_ep.cli, torch\nfrom ... import x\n")
    got = sorted(_imported_tops(src, ("analog", "kernels")))
    assert got == [(2, "train"), (3, "analog"), (4, "study"), (5, "cli"), (6, "x")]
