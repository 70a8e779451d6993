"""Checks on the notebooks as stored: what the book shows must come from running them.

nbval (configured in pyproject.toml) re-runs every notebook in the smoke profile; these
tests look at the stored outputs themselves, which the book renders.
"""
import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from execute_notebooks import clean_outputs, resolve_carriage_returns  # noqa: E402

NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks under chapters/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_come_from_a_full_cpu_run(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    counts = [c.execution_count for c in code]
    assert all(counts), f"{path.name}: cells never run: {[i for i, n in enumerate(counts) if not n]}"
    assert counts == list(range(1, len(code) + 1)), f"{path.name}: not run top to bottom in one kernel"
    first = "".join(o.get("text", "") for o in code[0].outputs)
    assert "profile=cpu" in first, f"{path.name}: stored outputs must come from the cpu profile: {first[:200]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_are_fit_for_the_offline_book(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        assert "execution" not in cell.metadata, f"cell {i}: timing metadata (use make execute)"
        for out in cell.get("outputs", []):
            text = json.dumps(out)
            assert out.output_type != "error" or "raises-exception" in cell.metadata.get("tags", []), \
                f"cell {i}: stored error output"
            assert "application/vnd.jupyter.widget-view+json" not in text, f"cell {i}: widget output"
            assert not re.search(r"(/root/|/tmp/|/home/[a-z])", text), f"cell {i}: local path in output"
            if out.output_type == "stream":
                assert "\r" not in out.text, f"cell {i}: unresolved carriage return in output"


def test_resolve_carriage_returns_shows_what_a_terminal_shows():
    bar = "\r  0%|     | 0/4\r 50%|##   | 2/4\r" + " " * 20 + "\repoch 1 done\n\r100%|#####| 4/4\n"
    assert resolve_carriage_returns(bar) == "epoch 1 done\n100%|#####| 4/4\n"
    assert resolve_carriage_returns("abcdef\rXY") == "XYcdef"
    assert resolve_carriage_returns("no returns\n") == "no returns\n"


def test_clean_outputs_merges_streams_and_drops_timing():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.metadata["execution"] = {"iopub.execute_input": "2026-01-01"}
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="a\r"),
                    nbformat.v4.new_output("stream", name="stdout", text="b\n"),
                    nbformat.v4.new_output("stream", name="stderr", text="warn\n")]
    nb.cells.append(cell)
    clean_outputs(nb)
    assert "execution" not in cell.metadata
    assert [(o.name, o.text) for o in cell.outputs] == [("stdout", "b\n"), ("stderr", "warn\n")]
