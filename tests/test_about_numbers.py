"""The about-the-numbers page says what produced every chapter's outputs, and is up to date."""
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent


def test_every_chapter_records_the_cpu_run_that_made_its_outputs():
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        run = nbformat.read(path, as_version=4).metadata.get("cnnlib_run")
        assert run, f"{path.name} has no run record: execute it with `make execute`"
        assert run["profile"] == "cpu" and run["seconds"] > 0, (path.name, run)
        first = next(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        shown = "".join(o.get("text", "") for o in first.outputs)
        assert f"torch {run['torch']}" in shown, f"{path.name}: its record and its outputs disagree"


def test_the_page_is_generated_from_the_records_and_in_the_book():
    proc = subprocess.run([sys.executable, "tools/about_numbers.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "file: about_numbers" in (ROOT / "_toc.yml").read_text(encoding="utf-8")


def _tools():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import about_numbers
        import execute_notebooks
    finally:
        sys.path.remove(str(ROOT / "tools"))
    return about_numbers, execute_notebooks


def test_timing_only_runs_are_merged_per_profile_and_shown_as_whole_book_totals(tmp_path, monkeypatch):
    about, execute = _tools()
    times = tmp_path / "notebook_times.json"
    record = {"profile": "smoke", "seconds": 20, "hardware": "CPU X, 2 threads", "date": "2026-12-01"}
    execute.store_times({"chapters/a.ipynb": record, "chapters/b.ipynb": {**record, "seconds": 30}}, times)
    execute.store_times({"chapters/a.ipynb": {**record, "seconds": 25, "date": "2026-12-02"},
                         "chapters/gone.ipynb": {**record, "seconds": 1000}}, times)
    monkeypatch.setattr(about, "TIMES", times)
    book = ["chapters/a", "chapters/b", "chapters/c", "chapters/d", "chapters/e", "chapters/f"]
    rows = {line.split("|")[1].strip(): line for line in about.profiles_table(600, book).splitlines()
            if line.startswith("| `")}
    # a re-timed chapter replaces its old record, a chapter no longer in the book is left
    # out; the total is over the latest records
    assert "| 2 of 6 | 55 s | CPU X, 2 threads | 2026-12-01 to 2026-12-02 |" in rows["`smoke`"]
    assert "| 6 of 6 | 10.0 min |" in rows["`cpu`"]
    assert "not measured yet" in rows["`gpu`"]
