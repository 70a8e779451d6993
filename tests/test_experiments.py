"""The experiments pattern (cnnlib.experiments, experiments/): results files and the scripts."""
import datetime as dt
import json
import math
import statistics
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
def test_lenet_seeds_quick_run_writes_every_run(quick_run):
    record = quick_run("lenet_seeds")
    assert [(r["variant"], r["seed"]) for r in record["rows"]] == [
        ("classic", 0), ("modern", 0), ("classic", 1), ("modern", 1)]
    for row in record["rows"]:
        assert row["train_examples"] == 1_000 and row["val_examples"] == 5_000
        assert len(row["history"]["val_acc"]) == row["epochs"] == 1
        assert 0 <= row["test_acc"] <= 1 and row["val_acc"] == row["history"]["val_acc"][-1]


def test_the_committed_results_are_readable():
    for path in sorted((ROOT / "experiments" / "results").glob("*.json")):
        record = load_results(path)
        assert record["rows"], path



# --- the command line and main loop the scripts share ----------------------------------------

import importlib.util  # noqa: E402

from cnnlib.experiments import ExperimentParser, rounded, run_experiment  # noqa: E402

SCRIPTS = sorted((ROOT / "experiments").glob("*.py"))


def _parser(**overrides):
    kwargs = dict(results_dir="res", epochs=3, train_size=1_000,
                  quick={"seeds": [0, 1], "epochs": 1, "train_size": 100})
    kwargs.update(overrides)
    return ExperimentParser("demo", "Demo sweep.\n\nMore text.", **kwargs)


def _help(parser):
    return " ".join(parser.format_help().split())  # argparse wraps its lines


def test_parser_defaults_quick_and_help():
    p = _parser()
    args = p.parse_args([])
    assert (args.seeds, args.epochs, args.train_size, args.quick) == ([0, 1, 2], 3, 1_000, False)
    assert args.out == Path("res") / "demo.json" and p.description == "Demo sweep."
    quick = p.parse_args(["--quick", "--epochs", "7"])  # --quick wins over the others
    assert (quick.seeds, quick.epochs, quick.train_size) == ([0, 1], 1, 100)
    assert "seeds 0 1, 1 epoch, 100 training images: checks that the code runs" in _help(p)
    assert _parser(train_size=None).parse_args([]).train_size is None
    assert "(default: every training image the validation split leaves)" in _help(
        _parser(train_size=None))


def test_parser_quick_may_set_the_scripts_own_arguments():
    p = _parser(quick={"seeds": [0], "lrs": [0.1, 10.0]})
    p.add_argument("--lrs", type=float, nargs="+", default=[1.0])
    assert p.parse_args(["--quick"]).lrs == [0.1, 10.0] and p.parse_args([]).lrs == [1.0]
    assert "lrs 0.1 10.0" in _help(p)
    with pytest.raises(ValueError, match=r"quick names \['widths'\]"):
        _parser(quick={"widths": [8]}).parse_args([])  # a typo in a script, not the user's


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "-1"], "--seeds must be numbers >= 0"),
    (["--seeds", "1", "1"], "--seeds has duplicates"),
    (["--epochs", "0"], "--epochs must be at least 1"),
    (["--train-size", "9"], "--train-size must be at least 10"),
    (["--seeds"], "expected at least one argument"),
])
def test_parser_refuses_what_no_run_can_use(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("bad", [dict(name="a b"), dict(quick={})])
def test_parser_refuses_a_bad_definition(bad):
    kwargs = dict(results_dir="res", epochs=3, train_size=1_000, quick={"epochs": 1})
    name = bad.pop("name", "demo")
    kwargs.update(bad)
    with pytest.raises(ValueError):
        ExperimentParser(name, "doc", **kwargs)


def _load_script(path):
    spec = importlib.util.spec_from_file_location(f"_experiment_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_every_script_shares_the_checked_command_line(script):
    module = _load_script(script)
    args = module.parse_args([])
    # its default output is its committed results file, whose record names the script
    assert args.out == ROOT / "experiments" / "results" / f"{script.stem}.json"
    assert load_results(args.out)["experiment"] == script.stem
    quick = module.parse_args(["--quick"])
    assert quick.epochs == 1 and quick.train_size is not None and len(quick.seeds) <= 2
    for bad in (["--epochs", "0"], ["--seeds", "-1"], ["--seeds", "1", "1"],
                ["--train-size", "5"]):
        with pytest.raises(SystemExit):
            module.parse_args(bad)


def test_run_experiment_records_the_rows_and_the_command(tmp_path, monkeypatch, capsys):
    import cnnlib.data

    data = object()
    monkeypatch.setattr(cnnlib.data, "load_fashion_mnist", lambda: data)
    monkeypatch.chdir(ROOT)
    args = _parser().parse_args(["--seeds", "3", "--out", str(tmp_path / "d.json")])
    seen = []

    def sweep(d, device):
        seen.append((d, device))
        return [{"seed": s, "acc": 0.5} for s in args.seeds], "the notes"

    record = run_experiment("demo", args, sweep, script=ROOT / "experiments" / "demo.py",
                            argv=["--seeds", "3"])
    assert seen == [(data, cnnlib.get_device())]
    assert load_results(tmp_path / "d.json") == record
    assert record["rows"] == [{"seed": 3, "acc": 0.5}] and record["notes"] == "the notes"
    assert record["command"].split()[1:] == ["experiments/demo.py", "--seeds", "3"]
    out = capsys.readouterr().out
    assert out.startswith(cnnlib.describe_run(cnnlib.get_device())) and f"wrote {args.out}" in out


def test_rounded_rounds_floats_at_any_depth_and_nothing_else():
    value = {"a": [0.1234567891, 2, True, None, "x"], "b": {"c": (1.0000004, -2.5e-7)}, "d": 3}
    assert rounded(value) == {"a": [0.123457, 2, True, None, "x"],
                              "b": {"c": [1.0, -0.0]}, "d": 3}
    assert rounded(0.123456789, 3) == 0.123


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
