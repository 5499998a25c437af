"""Key reference: every dotted config key with its default and the docstring under its field."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import typing

from .typed import type_name
from .schema import RunConfig


def _field_docs(cls: type) -> dict[str, str]:
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body
    docs = {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
            docs[node.target.id] = " ".join(str(nxt.value.value).split())
    return docs


def describe(cls: type = RunConfig, prefix: str = "") -> list[tuple[str, str, object, str]]:
    """Rows ``(dotted key, type, default, doc)`` for every leaf field."""
    rows = []
    hints = typing.get_type_hints(cls)
    docs = _field_docs(cls)
    default = cls()
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            rows.extend(describe(tp, f"{prefix}{f.name}."))
        else:
            rows.append((prefix + f.name, type_name(tp), getattr(default, f.name), docs.get(f.name, "")))
    return rows


def markdown_table() -> str:
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for key, tp, default, doc in describe():
        doc = doc.replace("|", "\\|")
        lines.append(f"| `{key}` | {tp.replace('|', '/')} | `{default}` | {doc} |")
    return "\n".join(lines)


def family_defaults_table() -> str:
    """Markdown table of every registered model's family defaults (``ModelSpec.defaults`` and,
    per algorithm, ``ModelSpec.algorithm_defaults`` and, for a run without a card,
    ``ModelSpec.digital_defaults``): the values a key gets when neither the
    config file nor ``--set`` sets it."""
    from .model_specs import get_model_spec, model_names

    lines = ["| `model.name` | algorithm | family defaults |", "|---|---|---|"]
    for name in model_names():
        spec = get_model_spec(name)
        rows = ([("all", spec.defaults)] + sorted(spec.algorithm_defaults.items())
                + [(f"{a}, digital (no card)", v) for a, v in sorted(spec.digital_defaults.items())])
        for algorithm, values in rows:
            text = ", ".join(f"`{k}: {v}`" for k, v in values.items()) or "none (the schema defaults)"
            lines.append(f"| `{name}` | {algorithm} | {text} |")
    return "\n".join(lines)
