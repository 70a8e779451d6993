"""d2l's LeNet recipe trained by d2l's own ``train_ch6`` versus by ``cnnlib.Trainer``.

The recipe (d2l's LeNet chapter): sigmoid LeNet with average pooling, Xavier init, SGD with
lr 0.9, batch 256, 10 epochs, Fashion-MNIST 60k/10k, the test set evaluated every epoch.

- d2l: ``d2l.LeNet`` (d2l 1.0.3's own class), ``d2l.load_data_fashion_mnist(256)`` (4 worker
  processes, PIL, ``ToTensor``) and ``d2l.train_ch6`` as shipped, live Animator plot
  included.
- cnnlib: ``create_model("lenet")``, ``fashion_mnist_loaders(256)`` (the split held as one
  tensor), ``Trainer.fit(train, test)``.

Both read the same split (see ``_bench_data.py``; checked by sha256 in every trial), start
from the same seeds and run in a fresh Jupyter kernel per trial, interleaved, so that the
live plot renders as it does in a notebook and both pay the same kernel overhead. Each seed
is a pair of trials run back to back, d2l first for even seeds and cnnlib first for odd
ones (``pair_order``), so that neither always runs in the other's wake.

The verdict (``summarize``): the ratio of the median wall-clock seconds (d2l / cnnlib) must
be at least 3.0, and the median test accuracies must differ by at most 1 point (either
way); both boundaries count as met. The median of the per-seed ratios is reported beside
it, not used for the verdict.

Usage: python benchmarks/lenet_d2l_vs_cnnlib.py [--trials 10] [--epochs 10]
           [--impl both|d2l|cnnlib] [--train-size N] [--quick]
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import statistics
import sys
import tempfile
from pathlib import Path

import d2l
import torch

import cnnlib
from cnnlib.data import data_dir

import _bench_data
import _kernel

LR = 0.9
BATCH_SIZE = 256
SPEEDUP_BAR = 3.0  # cnnlib must be at least this many times faster (wall clock) ...
ACCURACY_TOLERANCE = 0.01  # ... with a median test accuracy within 1 point of d2l's
TRIAL_TIMEOUT_S = 3 * 3600
RESULTS_DIR = _bench_data.BENCH_DIR / "results"
IMPLS = ("d2l", "cnnlib")
# Accuracies are fractions of the test set (multiples of 1/10,000), so a gap of exactly one
# point is 0.0100000000000000x in floating point; this slack lets it count as within.
_ACCURACY_SLACK = 1e-9

# train_ch6's closing lines, e.g. "loss 0.469, train acc 0.823, test acc 0.781" and
# "15339.2 examples/sec on cpu".
_D2L_FINAL = re.compile(r"loss (?P<loss>[\d.]+), train acc (?P<train_acc>[\d.]+), test acc (?P<test_acc>[\d.]+)")
_D2L_SPEED = re.compile(r"(?P<speed>[\d.]+) examples/sec on")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # 10, not 3: both implementations are deterministic per seed, and at lr 0.9 their final
    # test accuracies spread over about 5 points across seeds, so the medians of 3 seeds
    # differ by up to 2.5 points between implementations that learn equally well.
    p.add_argument("--trials", type=int, default=10,
                   help="trials per implementation (seeds 0..N-1; default 10)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--impl", choices=("both", *IMPLS), default="both")
    p.add_argument("--train-size", type=int, default=None,
                   help="train on a fixed stratified subset of this many images (a quick check)")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false",
                   help="train cnnlib in NCHW memory order (the default is channels-last, "
                        "TrainConfig(channels_last=True))")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 1 trial, 1 epoch, 6000 training images")
    args = p.parse_args(argv)
    if args.quick:
        args.trials, args.epochs, args.train_size = 1, 1, 6000
    if args.trials < 1 or args.epochs < 1:
        p.error("--trials and --epochs must be >= 1")
    # train_ch6 redraws its plot every (batches per epoch // 5) batches: with fewer than 5
    # batches that is a modulo by zero, so d2l cannot train on less.
    if args.train_size is not None and not 5 * BATCH_SIZE <= args.train_size <= 60000:
        p.error(f"--train-size must be in [{5 * BATCH_SIZE}, 60000]")
    return args


def verify_d2l_reads(data, cwd: Path) -> None:
    """Load through d2l's own loader from ``cwd`` and check it yields ``data``'s tensors."""
    from d2l import torch as d2l

    with contextlib.chdir(cwd):  # d2l's root is "../data", relative to the working directory
        train_iter, test_iter = d2l.load_data_fashion_mnist(BATCH_SIZE)
    for name, ds, split in (("train", train_iter.dataset, data.train), ("test", test_iter.dataset, data.test)):
        if not (torch.equal(ds.data, split.images) and torch.equal(ds.targets, split.labels)):
            raise RuntimeError(f"d2l's {name} set differs from the split written for it")
    # One batch through the whole pipeline (worker processes, PIL, ToTensor): the test
    # loader is not shuffled, so it must start with the first test images, scaled to [0, 1].
    x, y = next(iter(test_iter))
    expected = data.test.images[:BATCH_SIZE].unsqueeze(1).float().div(255)
    if not (torch.equal(x, expected) and torch.equal(y, data.test.labels[:BATCH_SIZE])):
        raise RuntimeError("d2l's first test batch differs from the split's first test images")
    print(f"  checked: d2l's loader yields exactly this split (first test batch {tuple(x.shape)} "
          f"equal, all {len(train_iter.dataset)} + {len(test_iter.dataset)} images and labels equal)")


def pair_order(seed: int, impls) -> list[str]:
    """The order in which one seed's trials run: as given for even seeds, reversed for odd.

    Whatever runs second in a pair inherits the first one's heat and leftover load; taking
    turns spreads that over both implementations equally (over an even number of trials).
    """
    impls = list(impls)
    return impls if seed % 2 == 0 else impls[::-1]


def schedule(trials: int, impls) -> list[tuple[int, str, int]]:
    """Every trial as ``(seed, impl, position in its pair)``, in the order they run."""
    return [(seed, impl, position) for seed in range(trials)
            for position, impl in enumerate(pair_order(seed, impls))]


def run_all(trials: int, impls, run) -> list[dict]:
    """Run ``run(impl, seed, position)`` for every trial of the schedule, in its order, and
    record in each result its position in its pair (0: ran first, 1: second)."""
    results = []
    for seed, impl, position in schedule(trials, impls):
        result = run(impl, seed, position)
        result["position_in_pair"] = position
        results.append(result)
    return results


def run_trial(impl: str, seed: int, position: int, args, data, cwd: Path, stamp: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        kwargs = dict(impl=impl, out=str(out), seed=seed, epochs=args.epochs, lr=LR,
                      batch_size=BATCH_SIZE, train_size=args.train_size, source=data.source,
                      data_root=str(data_dir()))
        if impl == "cnnlib":
            kwargs["channels_last"] = args.channels_last
        code = (f"import sys\nsys.path.insert(0, {str(_bench_data.BENCH_DIR)!r})\n"
                f"import _trial\n_trial.main(**{kwargs!r})\n")
        cell = _kernel.run_cell(code, cwd=cwd, timeout=TRIAL_TIMEOUT_S)
        if cell.error or not out.is_file():
            raise RuntimeError(f"{impl} trial with seed {seed} failed in its kernel")
        result = json.loads(out.read_text())

    # Both must have trained and tested on exactly the split the driver prepared.
    for key, split in (("train_digest", data.train), ("test_digest", data.test)):
        if result[key] != _bench_data.digest(split.images, split.labels):
            raise RuntimeError(f"{impl} trial with seed {seed} saw different {key.split('_')[0]} data")
    result["examples_per_s"] = args.epochs * result["train_examples"] / result["seconds"]
    result["svg_displays"], result["svg_kib"] = cell.svg_displays, round(cell.svg_bytes / 1024, 1)
    result["clear_outputs"] = cell.clear_outputs
    if impl == "d2l":
        final, speed = _D2L_FINAL.search(cell.stdout), _D2L_SPEED.search(cell.stdout)
        if final is None:
            raise RuntimeError("train_ch6's closing line was not found in the kernel's output")
        result["train_loss"] = float(final["loss"])  # printed with 3 decimals
        result["printed_test_acc"] = float(final["test_acc"])
        # d2l's own figure, whose timer covers only the training steps (no evaluation, no plot).
        result["d2l_reported_examples_per_s"] = float(speed["speed"]) if speed else None
        if cell.last_svg:
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            svg_path = RESULTS_DIR / f"{stamp}-d2l-seed{seed}-live-plot.svg"
            svg_path.write_text(cell.last_svg)
            result["last_svg"] = str(svg_path.relative_to(_bench_data.BENCH_DIR.parent))
    print(f"  {impl:6s} seed {seed} ({'first' if position == 0 else 'second'}): "
          f"{result['seconds']:7.1f} s  {result['examples_per_s']:8.0f} ex/s  "
          f"test acc {result['test_acc']:.4f}  train loss {result['train_loss']:.3f}  "
          f"SVG figures received {cell.svg_displays}", flush=True)
    return result


def summarize(results: list[dict], impls: list[str]) -> dict:
    summary = {}
    for impl in impls:
        rows = [r for r in results if r["impl"] == impl]
        summary[impl] = {
            "seconds": [r["seconds"] for r in rows],
            "test_acc": [r["test_acc"] for r in rows],
            "train_loss": [r["train_loss"] for r in rows],
            "median_seconds": statistics.median(r["seconds"] for r in rows),
            "median_examples_per_s": statistics.median(r["examples_per_s"] for r in rows),
            "median_test_acc": statistics.median(r["test_acc"] for r in rows),
            "mean_test_acc": statistics.fmean(r["test_acc"] for r in rows),
            "median_train_loss": statistics.median(r["train_loss"] for r in rows),
        }
    if len(impls) == 2:
        d2l, ours = summary["d2l"], summary["cnnlib"]
        ratio = d2l["median_seconds"] / ours["median_seconds"]
        gap = ours["median_test_acc"] - d2l["median_test_acc"]
        summary["speedup"] = ratio
        summary["accuracy_gap"] = gap
        summary["mean_accuracy_gap"] = ours["mean_test_acc"] - d2l["mean_test_acc"]
        # Trials run in pairs (both implementations with seed k, back to back), so each
        # pair's ratio is measured under nearly the same machine load.
        seconds = {(r["impl"], r["seed"]): r["seconds"] for r in results}
        pairs = [seconds["d2l", seed] / seconds["cnnlib", seed]
                 for seed in sorted({r["seed"] for r in results})
                 if ("d2l", seed) in seconds and ("cnnlib", seed) in seconds]
        summary["median_paired_speedup"] = statistics.median(pairs) if pairs else float("nan")
        # The verdict is on the ratio of the medians (see the module docstring).
        summary["bar_met"] = (ratio >= SPEEDUP_BAR
                              and abs(gap) <= ACCURACY_TOLERANCE + _ACCURACY_SLACK)
    return summary


def markdown_table(summary: dict, impls: list[str]) -> str:
    lines = ["| implementation | median wall s | median examples/s | median test acc | "
             "test acc per trial | median final train loss |",
             "|---|---:|---:|---:|---|---:|"]
    for impl in impls:
        s = summary[impl]
        accs = ", ".join(f"{a:.4f}" for a in s["test_acc"])
        lines.append(f"| {impl} | {s['median_seconds']:.1f} | {s['median_examples_per_s']:.0f} | "
                     f"{s['median_test_acc']:.4f} | {accs} | {s['median_train_loss']:.3f} |")
    if "speedup" in summary:
        verdict = "met" if summary["bar_met"] else "NOT met"
        lines += ["", f"Speed ratio (d2l median wall s / cnnlib median wall s): "
                      f"**{summary['speedup']:.2f}x**; accuracy gap (cnnlib - d2l): "
                      f"{100 * summary['accuracy_gap']:+.2f} points.",
                  f"Median of the per-seed ratios (each pair run back to back, in turns "
                  f"d2l or cnnlib first): "
                  f"{summary['median_paired_speedup']:.2f}x.",
                  "Test accuracy per trial, mean and range: " + "; ".join(
                      f"{impl} {summary[impl]['mean_test_acc']:.4f} "
                      f"({min(summary[impl]['test_acc']):.4f}-{max(summary[impl]['test_acc']):.4f})"
                      for impl in impls)
                  + f"; gap of the means {100 * summary['mean_accuracy_gap']:+.2f} points. "
                  "(At lr 0.9 single trials spread over several points, so a median of few "
                  "trials is a coarse measure of a 1-point gap.)",
                  f"Bar \"cnnlib at least {SPEEDUP_BAR:g}x d2l's wall-clock speed at equal accuracy "
                  f"(within {100 * ACCURACY_TOLERANCE:g} point)\": **{verdict}**."]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    impls = list(IMPLS) if args.impl == "both" else [args.impl]

    now = dt.datetime.now()
    # Anything short of the full configuration is a check that the script runs, and is
    # named so that it is never mistaken for a benchmark result.
    full_run = (args.impl == "both" and args.trials >= 3 and args.epochs == 10
                and args.train_size in (None, 60000))
    stamp = now.strftime("%Y-%m-%dT%H%M%S") + ("" if full_run else "-check")
    meta = {
        "date": now.isoformat(timespec="seconds"),
        "hardware": cnnlib.device_name(),
        "torch": torch.__version__, "d2l": d2l.__version__, "cnnlib": cnnlib.__version__,
        "python": platform.python_version(), "cpu_count": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
    }
    print(f"# LeNet: d2l train_ch6 vs cnnlib Trainer\n\nhardware: {meta['hardware']}\n"
          f"torch {meta['torch']}, d2l {meta['d2l']}, cnnlib {meta['cnnlib']}, "
          f"Python {meta['python']}; load average at start {meta['load_average_at_start']}")

    data = _bench_data.benchmark_split(args.train_size)
    meta["data_source"], meta["test_split"] = data.source, data.test_split_note
    print(f"data: Fashion-MNIST from the {data.source} source, {len(data.train)} train / "
          f"{len(data.test)} test images ({data.test_split_note})")
    full_official = data.source == "official" and len(data.train) == 60000
    cwd = _bench_data.prepare_d2l_folder(
        data, official_raw=data_dir() / "FashionMNIST" / "raw" if full_official else None)
    print(f"d2l reads ../data from {cwd.relative_to(_bench_data.BENCH_DIR.parent)}")
    if "d2l" in impls:
        verify_d2l_reads(data, cwd)

    config = {"trials": args.trials, "epochs": args.epochs, "lr": LR, "batch_size": BATCH_SIZE,
              "train_size": len(data.train), "impls": impls, "full_run": full_run,
              "cnnlib_channels_last": args.channels_last,
              "pair_order": [pair_order(seed, impls) for seed in range(args.trials)]}
    print(f"recipe: lr {LR}, batch {BATCH_SIZE}, {args.epochs} epoch(s), {args.trials} trial(s) per "
          f"implementation, interleaved (the pairs take turns at going first); timed: the training "
          f"call incl. per-epoch test evaluation, data loading setup excluded for both; cnnlib in "
          f"{'channels-last' if args.channels_last else 'NCHW'} memory order\n")
    # Interleaved, so that drift in machine load hits both alike; the pairs take turns at
    # going first.
    results = run_all(args.trials, impls, lambda impl, seed, position: run_trial(
        impl, seed, position, args, data, cwd, stamp))

    if len({r["num_parameters"] for r in results}) != 1:
        raise RuntimeError("the two LeNets differ in parameter count: not the same architecture")
    summary = summarize(results, impls)
    print("\n" + markdown_table(summary, impls))
    if not full_run:
        print("\n(not the benchmark's configuration: a check that it runs, not a verdict)")

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{stamp}.json"
    path.write_text(json.dumps({"meta": meta, "config": config, "summary": summary,
                                "trials": results}, indent=2) + "\n")
    print(f"\nresults: {path.relative_to(_bench_data.BENCH_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
