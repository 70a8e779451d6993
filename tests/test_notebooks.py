"""Checks on the notebooks as stored: what the book shows must come from running them.

nbval (configured in pyproject.toml) re-runs every notebook in the smoke profile; these
tests look at the stored outputs themselves, which the book renders.
"""
import ast
import base64
import json
import re
import struct
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from execute_notebooks import clean_outputs, resolve_carriage_returns  # noqa: E402

NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))

# A figure cell is a code cell that calls one of cnnlib's figure functions (those of
# cnnlib.plot.__all__, by bare name or as cnnlib.plot_history(...)) or anything of
# matplotlib.pyplot as `plt.` (plt.imshow, plt.show, ...). That is decided from the parsed
# source, so a comment or string that mentions a plot does not count, and a figure drawn
# through cnnlib or pyplot cannot escape it. Such a cell must store an image: otherwise
# the book, which never runs the notebooks, shows an empty space where the figure goes.
import cnnlib.plot  # noqa: E402

FIGURE_FUNCTIONS = set(cnnlib.plot.__all__)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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


def _calls_figure_function(source: str) -> bool:
    # IPython magics and shell escapes (%pip, !ls) are not Python: blank them out.
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())
    for node in ast.walk(ast.parse(code)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in FIGURE_FUNCTIONS:
            return True
        if isinstance(func, ast.Attribute) and (
                func.attr in FIGURE_FUNCTIONS
                or (isinstance(func.value, ast.Name) and func.value.id == "plt")):
            return True
    return False


def _png_size(data: str) -> tuple[int, int]:
    """(width, height) of a base64 PNG as stored in a notebook, from its IHDR chunk."""
    raw = base64.b64decode(data)
    assert raw[:8] == PNG_SIGNATURE and raw[12:16] == b"IHDR", "not a PNG image"
    return struct.unpack(">II", raw[16:24])


def _stored_pngs(cell) -> list[str]:
    return [out.data["image/png"] for out in cell.get("outputs", [])
            if out.output_type in ("display_data", "execute_result") and "image/png" in out.get("data", {})]


def test_the_figure_cell_rule():
    assert _calls_figure_function('plot_history(h, title="x");')
    assert _calls_figure_function("fig = cnnlib.show_images(x)\nfig.savefig('a.png')")
    assert _calls_figure_function("import matplotlib.pyplot as plt\nplt.imshow(img)")
    assert _calls_figure_function('%pip install -q x\nplot_confusion_matrix(cm, names)')
    assert not _calls_figure_function("# plot_history(h) would draw it\nprint('plot_history')")
    assert not _calls_figure_function("history = trainer.fit(train, test)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_figure_cell_stores_its_image(path):
    nb = nbformat.read(path, as_version=4)
    figure_cells = [(i, c) for i, c in enumerate(nb.cells)
                    if c.cell_type == "code" and _calls_figure_function(c.source)]
    if path.name == "lenet.ipynb":  # the chapter has figures: the rule must find them
        assert len(figure_cells) >= 4, f"{path.name}: found figure cells {[i for i, _ in figure_cells]}"
    missing = [i for i, c in figure_cells if not _stored_pngs(c)]
    assert missing == [], f"{path.name}: figure cells without a stored image: {missing} (run make execute)"
    for i, cell in enumerate(nb.cells):
        for png in _stored_pngs(cell) if cell.cell_type == "code" else []:
            width, height = _png_size(png)
            assert width >= 100 and height >= 100, f"cell {i}: a {width}x{height} figure"
