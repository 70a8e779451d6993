"""The experiments pattern (cnnlib.experiments, experiments/): results files and the scripts."""
import datetime as dt
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from cnnlib.experiments import RESULTS_FORMAT, load_results, save_results, spread

ROOT = Path(__file__).resolve().parent.parent
STARTED = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)


def test_results_round_trip_with_their_record(tmp_path):
    rows = [{"seed": 0, "acc": 0.5}, {"seed": 1, "acc": 0.75}]
    path = tmp_path / "sub" / "r.json"
    written = save_results(path, "demo", rows, started=STARTED, seconds=12.34, device="cpu",
                           argv=["experiments/demo.py", "--seeds", "0", "1"], notes="n")
    back = load_results(path)
    assert back == written and back["rows"] == rows and back["format"] == RESULTS_FORMAT
    assert back["command"].endswith("experiments/demo.py --seeds 0 1")
    assert back["started"] == "2026-12-01T12:00:00+00:00" and back["seconds"] == 12.3
    assert {"hardware", "torch", "cnnlib", "python", "threads"} <= set(back["environment"])
    assert sorted(p.name for p in path.parent.iterdir()) == ["r.json"]  # no .tmp left


@pytest.mark.parametrize("rows, match", [([], "non-empty list"), ([1], "non-empty list of dicts"),
                                         ([{"acc": float("nan")}], "JSON values")])
def test_bad_rows_are_refused(tmp_path, rows, match):
    with pytest.raises(ValueError, match=match):
        save_results(tmp_path / "r.json", "demo", rows, started=STARTED, seconds=1.0)
    assert not (tmp_path / "r.json").exists()


def test_unreadable_results_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="make experiments"):
        load_results(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"bad\.json is not a readable results file"):
        load_results(tmp_path / "bad.json")
    (tmp_path / "old.json").write_text(json.dumps({"format": 0, "rows": []}))
    with pytest.raises(ValueError, match=r"old\.json is not a results file of format 1"):
        load_results(tmp_path / "old.json")


def test_spread_against_statistics():
    values = [0.81, 0.79, 0.84, 0.78]
    s = spread(values)
    assert (s.n, s.min, s.max) == (4, 0.78, 0.84)
    assert math.isclose(s.mean, 0.805, rel_tol=1e-12)
    assert math.isclose(s.std, statistics.stdev(values), rel_tol=1e-12)  # sample, n - 1
    assert str(s) == "0.805 ± 0.026 (range 0.780-0.840, n=4)"
    with pytest.raises(ValueError, match="at least 2 values"):
        spread([0.8])
    with pytest.raises(ValueError, match="finite"):
        spread([0.8, float("nan")])


@pytest.mark.slow
def test_lenet_seeds_quick_run_writes_every_run(tmp_path):
    out = tmp_path / "lenet_seeds.json"
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / "lenet_seeds.py"), "--quick",
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = load_results(out)
    assert [(r["variant"], r["seed"]) for r in record["rows"]] == [
        ("classic", 0), ("modern", 0), ("classic", 1), ("modern", 1)]
    for row in record["rows"]:
        assert row["train_examples"] == 1_000 and row["val_examples"] == 5_000
        assert len(row["history"]["val_acc"]) == row["epochs"] == 1
        assert 0 <= row["test_acc"] <= 1 and row["val_acc"] == row["history"]["val_acc"][-1]
    assert "--quick" in record["command"]


def test_the_committed_results_are_readable():
    for path in sorted((ROOT / "experiments" / "results").glob("*.json")):
        record = load_results(path)
        assert record["rows"], path
