"""Experiments too big for a notebook: run once from ``experiments/``, recorded in a file.

A chapter that compares settings over several seeds cannot train them all within its few
minutes on a laptop CPU. Such a sweep is a script under ``experiments/`` (``make
experiments`` runs them all) that writes its results with :func:`save_results`: the rows,
and the command, hardware, versions and time that produced them. The chapter reads the
file with :func:`load_results`, plots it, and re-runs a small slice of the same code in its
profile, so that CI proves the code still runs.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .device import device_name, get_device

__all__ = ["RESULTS_FORMAT", "environment", "save_results", "load_results", "find_results",
           "Spread", "spread", "ExperimentParser", "run_experiment", "rounded"]

RESULTS_FORMAT = 1
_REQUIRED = ("format", "experiment", "command", "environment", "started", "seconds", "rows")


def environment(device: torch.device | str | None = None) -> dict:
    """Where and with what a run ran: hardware, versions, threads (for the results file)."""
    from . import __version__

    device = get_device(device)
    return {"device": str(device), "hardware": device_name(device), "torch": torch.__version__,
            "cnnlib": __version__, "python": platform.python_version(),
            "platform": platform.platform(), "threads": torch.get_num_threads()}


def save_results(path: str | os.PathLike, experiment: str, rows: list[dict], *,
                 started: dt.datetime, seconds: float, device=None, argv: list[str] | None = None,
                 notes: str = "") -> dict:
    """Write ``rows`` (one dict per run, JSON values) with the record of how they were made.

    Args:
        path: the JSON file to write (its folder is created).
        experiment: a short name.
        rows: the results, one dict per run (e.g. one model and seed).
        started: when the experiment started (``datetime.now(timezone.utc)``).
        seconds: how long it took, wall clock.
        device: where it ran (for :func:`environment`).
        argv: the command line (default ``sys.argv``), recorded so it can be re-run.
        notes: anything a reader of the results needs to know.
    """
    if not isinstance(experiment, str) or not experiment:
        raise ValueError(f"experiment must be a non-empty name, got {experiment!r}")
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise ValueError("rows must be a non-empty list of dicts, one per run")
    if not isinstance(started, dt.datetime):
        raise TypeError(f"started must be a datetime, got {type(started).__name__}")
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"seconds must be a finite number >= 0, got {seconds!r}")
    record = {
        "format": RESULTS_FORMAT,
        "experiment": experiment,
        "command": shlex.join([Path(sys.executable).name, *(sys.argv if argv is None else argv)]),
        "environment": environment(device),
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(float(seconds), 1),
        "notes": notes,
        "rows": rows,
    }
    try:
        text = json.dumps(record, indent=1, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"rows must hold JSON values (numbers finite): {err}") from err
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(path)
    return record


def load_results(path: str | os.PathLike) -> dict:
    """Read a file written by :func:`save_results`; errors name the file and what to do."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no results file at {path}: run the experiment that writes it "
                                "(see experiments/README.md, or `make experiments`)")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not a readable results file ({err}): run its experiment "
                         "again") from err
    missing = [k for k in _REQUIRED if not isinstance(record, dict) or k not in record]
    if missing or record.get("format") != RESULTS_FORMAT:
        raise ValueError(f"{path} is not a results file of format {RESULTS_FORMAT} (missing "
                         f"{missing or 'nothing'}, format {record.get('format') if isinstance(record, dict) else None!r}): "
                         "run its experiment again")
    return record


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_GITHUB = re.compile(r"https://github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?")


def _installed_from() -> tuple[str, str] | None:
    """(GitHub "owner/name", commit) that pip installed cnnlib from, if it was a GitHub URL.

    pip records the source of a direct-URL install in the package's ``direct_url.json``
    (PEP 610), with the exact commit for a git URL: the Colab setup cell's case.
    """
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        text = distribution("cnnlib").read_text("direct_url.json")
    except PackageNotFoundError:
        return None
    try:
        info = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return None
    match = _GITHUB.fullmatch(str(info.get("url", "")))
    commit = info.get("vcs_info", {}).get("commit_id") if isinstance(info.get("vcs_info"), dict) else None
    if not match or not isinstance(commit, str) or not re.fullmatch(r"[0-9a-f]{40}", commit):
        return None
    return f"{match.group(1)}/{match.group(2)}", commit


def find_results(name: str, start: str | os.PathLike | None = None) -> Path:
    """The committed results file ``experiments/results/<name>.json``, wherever a chapter runs.

    1. In a clone of the course: the nearest ``experiments/results/<name>.json`` in
       ``start`` (default: the working directory, ``chapters/`` for a notebook) or a folder
       above it.
    2. Elsewhere, when cnnlib was installed with pip from a GitHub URL (the Colab setup
       cell does that): the file of the very commit that was installed, downloaded once
       from raw.githubusercontent.com into the data cache (``$CNNLIB_DATA_DIR/results/``),
       so the figures match the code that runs.

    Raises:
        FileNotFoundError: neither place has it; the message says where it looked.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name.endswith(".json"):
        raise ValueError(f"name must be a results file's name without .json, such as "
                         f"'lenet_seeds', got {name!r}")
    here = Path(start) if start is not None else Path.cwd()
    for folder in (here, *here.resolve().parents):
        candidate = folder / "experiments" / "results" / f"{name}.json"
        if candidate.is_file():
            return candidate
    source = _installed_from()
    if source is None:
        raise FileNotFoundError(
            f"experiments/results/{name}.json is not in {here.resolve()} or a folder above it, "
            "and cnnlib was not installed from a GitHub URL to fetch it from: run the notebook "
            "inside a clone of the course, or run the experiment that writes it")
    repo, commit = source
    from .data import data_dir

    cached = Path(data_dir()) / "results" / commit / f"{name}.json"
    if cached.is_file():
        return cached
    url = f"https://raw.githubusercontent.com/{repo}/{commit}/experiments/results/{name}.json"
    from urllib.error import URLError
    from urllib.request import urlopen

    try:
        with urlopen(url, timeout=30) as response:
            body = response.read()
    except (URLError, OSError, ValueError) as err:
        raise FileNotFoundError(f"could not download {url} ({err}); run the notebook inside a "
                                "clone of the course instead") from err
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(cached.name + ".tmp")
    tmp.write_bytes(body)
    try:
        load_results(tmp)  # a results file, or an error naming it
    except ValueError:
        tmp.unlink()
        raise ValueError(f"{url} is not a results file of format {RESULTS_FORMAT}") from None
    tmp.replace(cached)
    return cached


@dataclass(frozen=True)
class Spread:
    """Mean, sample standard deviation, minimum and maximum of runs over seeds."""

    n: int
    mean: float
    std: float
    min: float
    max: float

    def __str__(self) -> str:
        return f"{self.mean:.3f} ± {self.std:.3f} (range {self.min:.3f}-{self.max:.3f}, n={self.n})"


def spread(values) -> Spread:
    """The :class:`Spread` of a list of numbers (at least 2: one seed shows no spread)."""
    values = [float(v) for v in values]
    if len(values) < 2:
        raise ValueError(f"a spread needs at least 2 values (seeds), got {len(values)}")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"values must be finite numbers, got {values}")
    return Spread(len(values), statistics.fmean(values), statistics.stdev(values),
                  min(values), max(values))


# --- the command line and main loop that every script in experiments/ shares ---------------

def _describe_quick(quick: dict) -> str:
    """'seeds 0 1, 1 epoch, 1,000 training images, lrs 0.1 10.0' for the --quick help."""
    parts = []
    for key, value in quick.items():
        if key == "epochs":
            parts.append(f"{value} epoch{'s' if value != 1 else ''}")
        elif key == "train_size":
            parts.append(f"{value:,} training images")
        else:
            shown = " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
            parts.append(f"{key.replace('_', ' ')} {shown}")
    return ", ".join(parts)


class ExperimentParser(argparse.ArgumentParser):
    """The command line of a sweep in ``experiments/``: ``--seeds``, ``--epochs``,
    ``--train-size``, ``--quick`` and ``--out``, with their checks.

    A script adds its own arguments (``--variants``, ``--lrs``, ...) with ``add_argument``
    as usual. ``parse_args`` then applies ``quick`` when ``--quick`` is given and refuses,
    with a message and exit status 2, what no run can use: no seeds, a negative or repeated
    seed, fewer than 1 epoch, fewer than 10 training images (one per class).

    Args:
        name: the experiment's name; ``--out`` defaults to ``results_dir/<name>.json``.
        doc: the script's docstring; its first paragraph is the description.
        results_dir: the folder of the committed results (``experiments/results``).
        seeds, epochs, train_size: the defaults; ``train_size=None`` means every training
            image that the validation split leaves.
        quick: what ``--quick`` sets, by destination (``{"seeds": [0, 1], "epochs": 1,
            "train_size": 1000}``; a script's own arguments may be named too): a run that
            only checks that the code runs, which the tests use.
        train_size_help: the help of ``--train-size``, if the default does not fit.
    """

    def __init__(self, name: str, doc: str, *, results_dir: str | os.PathLike,
                 seeds=(0, 1, 2), epochs: int, train_size: int | None, quick: dict,
                 train_size_help: str | None = None):
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"name must be a results file's name such as 'lenet_seeds', "
                             f"got {name!r}")
        if not isinstance(quick, dict) or not quick:
            raise ValueError("quick must be a non-empty dict of what --quick sets, such as "
                             "{'seeds': [0, 1], 'epochs': 1, 'train_size': 1000}")
        super().__init__(description=(doc or name).strip().split("\n\n")[0])
        self.quick = dict(quick)
        whole = "every training image the validation split leaves"
        self.add_argument("--seeds", type=int, nargs="+", default=list(seeds),
                          help="one run per seed and setting (default: "
                               f"{' '.join(map(str, seeds))})")
        self.add_argument("--epochs", type=int, default=epochs,
                          help=f"epochs of every run (default: {epochs})")
        self.add_argument("--train-size", type=int, default=train_size, help=train_size_help or (
            f"a stratified subset of the training images the validation split leaves "
            f"(default: {whole if train_size is None else f'{train_size:,}'})"))
        self.add_argument("--quick", action="store_true",
                          help=f"{_describe_quick(self.quick)}: checks that the code runs")
        out = Path(results_dir) / f"{name}.json"
        self.add_argument("--out", type=Path, default=out,
                          help=f"the results file to write (default: {_script_path(out)})")

    def parse_args(self, args=None, namespace=None):  # noqa: D102 (argparse's)
        known = {action.dest for action in self._actions}
        unknown = sorted(set(self.quick) - known)
        if unknown:
            raise ValueError(f"quick names {unknown}, which are not arguments of this parser "
                             f"({sorted(known - {'help'})})")
        ns = super().parse_args(args, namespace)
        if ns.quick:
            for key, value in self.quick.items():
                setattr(ns, key, list(value) if isinstance(value, (list, tuple)) else value)
        if not ns.seeds or min(ns.seeds) < 0:
            self.error(f"--seeds must be numbers >= 0, got {ns.seeds}")
        if len(set(ns.seeds)) != len(ns.seeds):
            self.error(f"--seeds has duplicates: {ns.seeds}")
        if ns.epochs < 1:
            self.error(f"--epochs must be at least 1, got {ns.epochs}")
        if ns.train_size is not None and ns.train_size < 10:
            self.error(f"--train-size must be at least 10 (one image per class), got "
                       f"{ns.train_size}")
        return ns


def _script_path(script: str | os.PathLike) -> str:
    """The script as the command that re-runs it names it: relative to the working
    directory when it lies below it (``experiments/bn_lr.py`` from the course's root)."""
    path = Path(script).resolve()
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def run_experiment(name: str, args: argparse.Namespace,
                   sweep: Callable[..., tuple[list[dict], str]], *,
                   script: str | os.PathLike, argv: list[str] | None = None) -> dict:
    """Run a sweep and record it: the main loop of every script in ``experiments/``.

    Picks the device, loads Fashion-MNIST, prints :func:`~cnnlib.profile.describe_run`, calls
    ``sweep(data, device)``, which returns ``(rows, notes)``, and writes them with
    :func:`save_results` to ``args.out``, with the wall-clock time and the command
    (``script`` and ``argv``, default ``sys.argv[1:]``) that re-runs it.

    Returns:
        The record written.
    """
    from .data import load_fashion_mnist
    from .device import get_device
    from .profile import describe_run

    device = get_device()
    data = load_fashion_mnist()
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.perf_counter()
    print(describe_run(device), flush=True)
    rows, notes = sweep(data, device)
    record = save_results(args.out, name, rows, started=started,
                          seconds=time.perf_counter() - t0, device=device,
                          argv=[_script_path(script), *(sys.argv[1:] if argv is None else argv)],
                          notes=notes)
    print(f"wrote {args.out}", flush=True)
    return record


def rounded(value, digits: int = 6):
    """``value`` with every float in it (in dicts, lists and tuples, at any depth) rounded
    to ``digits`` decimals, for a results file that stays readable; the rest unchanged."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    return value
