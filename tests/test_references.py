"""The bibliography: every key the book cites is in references.bib, each entry once.

The -W book build fails on a missing key too (tests/test_book.py); this test names the key
and the page in a second, without building.
"""
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
BIB = ROOT / "references.bib"
# {cite}`a`, {cite:p}`a,b`, {cite:t}`a`, {cite:ps}`a; b` (MyST roles of sphinxcontrib-bibtex)
CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]*)`")
ENTRY = re.compile(r"^@(\w+)\{([^,\s]+),", re.MULTILINE)


def bib_keys(text: str) -> list[str]:
    return [key for kind, key in ENTRY.findall(text) if kind.lower() not in ("comment", "string", "preamble")]


def cited_keys(text: str) -> list[str]:
    return [key.strip() for group in CITE.findall(text) for key in re.split(r"[,;]", group) if key.strip()]


def pages():
    for path in sorted(ROOT.glob("*.md")) + sorted((ROOT / "chapters").glob("*.md")):
        if path.name not in ("README.md",):
            yield path, path.read_text(encoding="utf-8")
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        yield path, "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_the_patterns_read_what_they_should():
    assert cited_keys("see {cite:p}`a2010x, b2011y` and {cite:t}`c2012z`; {cite}`d`") == \
        ["a2010x", "b2011y", "c2012z", "d"]
    assert bib_keys("@article{k1,\n title={x}}\n@Misc{k2, note={y}}\n@comment{not a key,") == ["k1", "k2"]


def test_every_entry_has_one_key_and_the_fields_a_reader_needs():
    text = BIB.read_text(encoding="utf-8")
    keys = bib_keys(text)
    assert len(keys) == len(set(keys)), f"duplicate keys: {sorted(k for k in set(keys) if keys.count(k) > 1)}"
    for entry in re.split(r"\n(?=@)", text)[1:]:
        key = ENTRY.match(entry).group(2)
        for field in ("author", "title", "year"):
            assert re.search(rf"^\s*{field}\s*=", entry, re.MULTILINE), f"{key} has no {field}"


@pytest.mark.parametrize("path, text", list(pages()), ids=lambda v: v.name if isinstance(v, Path) else "")
def test_every_citation_is_in_the_bibliography(path, text):
    known = set(bib_keys(BIB.read_text(encoding="utf-8")))
    missing = sorted(set(cited_keys(text)) - known)
    assert not missing, f"{path.name} cites keys that references.bib lacks: {missing}"


def test_the_book_cites_and_lists_its_references():
    cited = {key for _, text in pages() for key in cited_keys(text)}
    assert cited, "no page cites anything"
    assert "{bibliography}" in (ROOT / "references.md").read_text(encoding="utf-8")
