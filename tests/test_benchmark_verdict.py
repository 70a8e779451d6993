"""The d2l-vs-cnnlib benchmark's verdict logic (the benchmark itself is a script, not a test)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import lenet_d2l_vs_cnnlib as bench  # noqa: E402


def _results(d2l, cnnlib):
    rows = []
    for impl, trials in (("d2l", d2l), ("cnnlib", cnnlib)):
        for seconds, acc in trials:
            rows.append(dict(impl=impl, seconds=seconds, examples_per_s=600_000 / seconds,
                             test_acc=acc, train_loss=0.47))
    return bench.summarize(rows, list(bench.IMPLS))


@pytest.mark.parametrize("d2l, cnnlib, met", [
    # medians: d2l 90 s, acc 0.80
    ([(90, .80), (100, .78), (80, .83)], [(29, .805), (30, .79), (28, .81)], True),    # 3.1x, +0.5
    ([(90, .80), (100, .78), (80, .83)], [(31, .805), (32, .79), (30, .81)], False),   # 2.9x
    ([(90, .80), (100, .78), (80, .83)], [(29, .815), (30, .79), (28, .82)], False),   # +1.5 points
    ([(90, .80), (100, .78), (80, .83)], [(29, .785), (30, .77), (28, .79)], False),   # -1.5 points
])
def test_bar_needs_both_speed_and_accuracy(d2l, cnnlib, met):
    summary = _results(d2l, cnnlib)
    assert summary["speedup"] == pytest.approx(90 / summary["cnnlib"]["median_seconds"])
    assert summary["bar_met"] is met
    table = bench.markdown_table(summary, list(bench.IMPLS))
    assert ("**met**" in table) is met and ("**NOT met**" in table) is not met


def test_summary_reports_means_and_ranges():
    summary = _results([(90, .80), (100, .78), (80, .84)], [(29, .80), (30, .81), (28, .82)])
    assert summary["d2l"]["mean_test_acc"] == pytest.approx(0.80666, abs=1e-4)
    assert summary["mean_accuracy_gap"] == pytest.approx(0.00333, abs=1e-4)
    assert "d2l 0.8067 (0.7800-0.8400)" in bench.markdown_table(summary, list(bench.IMPLS))
    # Pairs by seed: 90/29, 100/30, 80/28.
    assert summary["median_paired_speedup"] == pytest.approx(90 / 29)


def test_default_is_ten_trials_and_quick_is_one():
    assert bench.parse_args([]).trials == 10
    assert bench.parse_args(["--quick"]).trials == 1
