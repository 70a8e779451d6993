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


# --- find_results: the committed file in a clone, or the installed commit's copy ---------

import cnnlib.experiments as experiments  # noqa: E402

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _record(tmp_path):
    save_results(tmp_path / "src.json", "demo", [{"seed": 0, "acc": 0.5}],
                 started=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), seconds=1.0, argv=["x"])
    return (tmp_path / "src.json").read_bytes()


class _Response:
    def __init__(self, body):
        self.body = body

    def read(self):
        return self.body

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_find_results_walks_up_from_a_chapter_folder(tmp_path, monkeypatch):
    results = tmp_path / "experiments" / "results"
    results.mkdir(parents=True)
    (results / "demo.json").write_bytes(_record(tmp_path))
    (tmp_path / "chapters").mkdir()
    monkeypatch.setattr(experiments, "_installed_from", lambda: pytest.fail("no download needed"))
    assert experiments.find_results("demo", start=tmp_path / "chapters").resolve() == \
        (results / "demo.json").resolve()
    monkeypatch.chdir(tmp_path / "chapters")
    assert experiments.find_results("demo").resolve() == (results / "demo.json").resolve()


def test_find_results_downloads_the_installed_commits_file_once(tmp_path, monkeypatch):
    body = _record(tmp_path)
    urls = []

    def fake_urlopen(url, timeout):
        urls.append(url)
        return _Response(body)

    monkeypatch.setenv("CNNLIB_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(experiments, "_installed_from", lambda: ("someone/course", COMMIT))
    monkeypatch.setattr("urllib.request.urlopen", fake_urlopen)
    away = tmp_path / "colab"
    away.mkdir()
    first = experiments.find_results("demo", start=away)
    second = experiments.find_results("demo", start=away)
    assert first == second == tmp_path / "cache" / "results" / COMMIT / "demo.json"
    assert urls == [f"https://raw.githubusercontent.com/someone/course/{COMMIT}/experiments/results/demo.json"]
    assert load_results(first)["rows"] == [{"seed": 0, "acc": 0.5}]


def test_find_results_refuses_a_download_that_is_not_a_results_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLIB_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(experiments, "_installed_from", lambda: ("someone/course", COMMIT))
    monkeypatch.setattr("urllib.request.urlopen", lambda url, timeout: _Response(b"<html>404</html>"))
    with pytest.raises(ValueError, match="is not a results file"):
        experiments.find_results("demo", start=tmp_path)
    assert not list((tmp_path / "cache").rglob("*.json*"))  # nothing half-written is kept


def test_find_results_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setattr(experiments, "_installed_from", lambda: None)
    with pytest.raises(FileNotFoundError, match="not installed from a GitHub URL"):
        experiments.find_results("demo", start=tmp_path)
    for bad in ("demo.json", "../x", "", 3):
        with pytest.raises(ValueError, match="name must be"):
            experiments.find_results(bad, start=tmp_path)


@pytest.mark.parametrize("direct_url, expected", [
    ({"url": "https://github.com/open-cnn-course/cnn-course",
      "vcs_info": {"vcs": "git", "commit_id": COMMIT, "requested_revision": "v0.2.0"}},
     ("open-cnn-course/cnn-course", COMMIT)),
    ({"url": "https://github.com/me/fork.git", "vcs_info": {"vcs": "git", "commit_id": COMMIT}},
     ("me/fork", COMMIT)),
    ({"url": "file:///work/main", "dir_info": {"editable": True}}, None),
    ({"url": "https://github.com/me/fork", "vcs_info": {"vcs": "git", "commit_id": "main"}}, None),
    ({"url": "https://gitlab.com/me/fork", "vcs_info": {"vcs": "git", "commit_id": COMMIT}}, None),
])
def test_installed_from_reads_pips_direct_url_record(monkeypatch, direct_url, expected):
    class Dist:
        def read_text(self, name):
            assert name == "direct_url.json"
            return json.dumps(direct_url)

    monkeypatch.setattr("importlib.metadata.distribution", lambda name: Dist())
    assert experiments._installed_from() == expected
