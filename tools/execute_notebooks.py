"""Re-execute the book's notebooks in place, without churn in their metadata.

Usage: CNNLIB_PROFILE=cpu python tools/execute_notebooks.py [--times-only] [NOTEBOOK ...]
(default: every notebook under chapters/). `make execute` runs this with the cpu profile.
With --times-only the notebooks are left as they are and only the run records (profile,
seconds, hardware, versions) go into benchmarks/notebook_times.json under the profile's
name: `make times` does this for the smoke profile, for the "about the numbers" page.

Outputs are made readable offline: carriage returns of progress bars are resolved the way
a terminal would show them, consecutive stream outputs are merged, and timing metadata is
dropped so that a second run differs only in numbers that legitimately change.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
TIMES = ROOT / "benchmarks" / "notebook_times.json"


def resolve_carriage_returns(text: str) -> str:
    """What a terminal shows after printing ``text``: ``\\r`` returns to the line start."""
    lines = []
    for line in text.split("\n"):
        shown = ""
        for segment in line.split("\r"):
            shown = segment + shown[len(segment):]
        lines.append(shown.rstrip())
    return "\n".join(lines)


def clean_outputs(nb) -> None:
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        merged = []
        for out in cell.outputs:
            if (out.output_type == "stream" and merged and merged[-1].output_type == "stream"
                    and merged[-1].name == out.name):
                merged[-1].text += out.text
            else:
                merged.append(out)
        for out in merged:
            if out.output_type == "stream":
                out.text = resolve_carriage_returns(out.text)
        cell.outputs = merged
    nb.metadata.pop("widgets", None)


def execute(path: Path, timeout: int = 1200, store: bool = True) -> dict:
    """Run ``path`` top to bottom in a fresh kernel; return its run record.

    With ``store`` the outputs and the record are written back into the notebook.
    """
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    record = run_record(seconds, nb)
    if store:
        clean_outputs(nb)
        nb.metadata["cnnlib_run"] = record
        nbformat.write(nb, path)
    return record


def store_times(records: dict[str, dict], path: Path = TIMES) -> None:
    """Merge run records (keyed by notebook path relative to the root) into ``path``."""
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    for name, record in records.items():
        data.setdefault(record["profile"], {})[name] = record
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def run_record(seconds: float, nb) -> dict:
    """What produced the stored outputs, for the book's "about the numbers" page.

    Device, hardware and versions are read from the kernel's own report, the
    ``describe_run`` lines that the notebook's first code cell prints (a chapter may, for
    instance, set its own number of threads), not from this process.
    """
    first = next((c for c in nb.cells if c.cell_type == "code"), None)
    shown = "".join(o.get("text", "") for o in first.outputs) if first is not None else ""
    device = re.search(r"^profile=(\S+) \| device=(\S+): (.+)$", shown, re.MULTILINE)
    versions = re.search(r"^torch (\S+) \| cnnlib (\S+) \| Python (\S+) on ", shown, re.MULTILINE)
    if not device or not versions:
        raise RuntimeError("the notebook's first code cell must print cnnlib.describe_run(): "
                           f"found {shown[:200]!r}")
    return {"profile": device.group(1), "seconds": round(seconds), "device": device.group(2),
            "hardware": device.group(3), "cores": os.cpu_count(), "torch": versions.group(1),
            "cnnlib": versions.group(2), "python": versions.group(3),
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")}

def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="default: every notebook under chapters/")
    parser.add_argument("--times-only", action="store_true",
                        help=f"leave the notebooks as they are; record the runs in {TIMES.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    profile = os.environ.get("CNNLIB_PROFILE")
    if not profile:
        print("set CNNLIB_PROFILE (the book's stored outputs use cpu): make execute", file=sys.stderr)
        return 2
    paths = [Path(a) for a in args.notebooks] or sorted((ROOT / "chapters").glob("*.ipynb"))
    missing = [p for p in paths if not p.is_file() or p.suffix != ".ipynb"]
    if missing:
        print(f"not notebooks: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    records = {}
    for path in paths:
        print(f"executing {path} (profile {profile}) ...", flush=True)
        record = execute(path, store=not args.times_only)
        records[path.resolve().relative_to(ROOT).as_posix()] = record
        print(f"  done in {record['seconds']} s", flush=True)
    if args.times_only:
        store_times(records)
        print(f"recorded in {TIMES.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
