"""The API reference page (api.md) documents every public module of cnnlib, and only those.

Its content comes from the docstrings at build time (tests/test_book.py builds it under -W -n,
so a broken cross-reference in a docstring fails there); this test catches a new module
that nobody added to the page.
"""
import importlib
import pkgutil
import re
from pathlib import Path

import cnnlib

ROOT = Path(__file__).resolve().parent.parent


def public_modules() -> set[str]:
    names = set()
    for info in pkgutil.walk_packages(cnnlib.__path__, "cnnlib."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.add(info.name)
    return names


def documented() -> list[str]:
    return re.findall(r"^\.\. automodule:: (\S+)", (ROOT / "api.md").read_text(encoding="utf-8"),
                      re.MULTILINE)


def test_every_public_module_is_on_the_api_page_once():
    pages = documented()
    assert len(pages) == len(set(pages)), f"documented twice: {sorted({m for m in pages if pages.count(m) > 1})}"
    assert set(pages) == public_modules()


def test_explicit_member_lists_name_existing_public_names():
    text = (ROOT / "api.md").read_text(encoding="utf-8")
    for module, members in re.findall(r"^\.\. automodule:: (\S+)\n\s+:members: (\S.*)$", text, re.MULTILINE):
        mod = importlib.import_module(module)
        for name in (m.strip() for m in members.split(",")):
            assert hasattr(mod, name), f"{module} has no {name}"
            assert name in getattr(mod, "__all__", [name]), f"{module}.{name} is not public"


def test_the_page_is_in_the_book():
    assert "file: api" in (ROOT / "_toc.yml").read_text(encoding="utf-8")
