"""The study runner's shared pieces: statistics over seeds against the standard library, table
cells and files, the device name of folder names, and that no study module imports the CLI or
another study module's private names."""

import ast
import csv
import math
import statistics
from pathlib import Path

import pytest

import analog_ep.study as study_pkg
from analog_ep.config import load_config
from analog_ep.rundir import device_name
from analog_ep.study.runner import cell, finite, mean, std, write_table

NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("values", [[0.5], [0.1, 0.2], [0.91, 0.875, 0.9, 0.93125], list(range(7)),
                                    [1e-9, 3e-9, 2e-9, 5e-9, 4e-9]])
def test_mean_and_std_equal_the_statistics_module(values):
    assert mean(values) == pytest.approx(statistics.fmean(values), rel=1e-12, abs=0)
    assert std(values) == (0.0 if len(values) == 1 else pytest.approx(statistics.stdev(values), rel=1e-12, abs=0))


def test_statistics_drop_missing_and_non_finite_values():
    values = [None, 0.25, NAN, 0.75, INF, -INF, 0.5]
    assert finite(values) == [0.25, 0.75, 0.5]
    assert mean(values) == pytest.approx(statistics.fmean([0.25, 0.75, 0.5]))
    assert std(values) == pytest.approx(statistics.stdev([0.25, 0.75, 0.5]))
    for empty in ([], [None], [NAN, INF]):
        assert mean(empty) is None and std(empty) is None


def test_cells_and_table_files(tmp_path):
    h5py = pytest.importorskip("h5py")
    assert [cell(v) for v in (None, True, 0.1, 3, "a", [1, 2], {"k": 1.5})] == \
        ["", "true", "0.1", "3", "a", "[1, 2]", "{k: 1.5}"]
    rows = [{"a": 0.1, "seed": 0, "m": None, "s": "x"}, {"a": 0.2, "seed": 1, "m": 2.0, "s": None}]
    cols = ["a", "seed", "m", "s"]
    path = write_table(rows, cols, tmp_path / "t.csv", tmp_path / "t.h5", numeric=("m",), integer=("seed",))
    with open(path, newline="") as f:
        assert list(csv.reader(f)) == [cols, ["0.1", "0", "nan", "x"], ["0.2", "1", "2.0", ""]]
    with h5py.File(tmp_path / "t.h5") as f:
        assert list(f) == cols and f["seed"].dtype.kind == "i" and f["a"][()].tolist() == [0.1, 0.2]
        assert math.isnan(f["m"][0]) and [v.decode() for v in f["s"][()]] == ["x", ""]
    write_table(rows, cols, tmp_path / "u.csv")
    assert (tmp_path / "u.csv").read_text().splitlines()[1] == "0.1,0,,x"
    assert not (tmp_path / "u.h5").exists() and not list(tmp_path.glob("*.tmp"))


def test_device_name():
    assert device_name(load_config(None, [])) is None
    assert device_name(load_config(None, ["analog.device=memristor"])) == "memristor"
    assert device_name(load_config(None, ["analog.device=devices/memristor.yaml"])) == "memristor"


def test_study_modules_import_no_cli_and_no_private_names():
    for path in Path(study_pkg.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                assert not (mod == "cli" or mod.endswith(".cli") or (node.level and mod == "" and
                                                                   any(a.name == "cli" for a in node.names))), path
                if node.level == 1:  # a sibling study module: public names only
                    assert all(not a.name.startswith("_") for a in node.names), (path, mod)
