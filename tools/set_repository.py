"""Point the book at a repository and a git ref: for a fork, or to pin a release.

Usage: python tools/set_repository.py [--url https://github.com/OWNER/NAME] [--ref REF]

`_config.yml` (repository.url and repository.branch) is the one place where the course's
repository is set: Jupyter Book builds every Colab button from it. This script changes it
and rewrites, to match, the places that must agree with it:

- every notebook's setup cell, which installs cnnlib with
  `%pip install "git+<url>"` (on main) or `"git+<url>@<ref>"` (any other ref, e.g. a
  release tag, so that a pinned notebook installs the cnnlib of the same release);
- the clone and install commands in README.md and intro.md.

tests/test_book.py fails when any of them disagrees with _config.yml. Examples:

    python tools/set_repository.py --url https://github.com/me/cnn-course   # a fork
    python tools/set_repository.py --ref v0.2.0                             # a release
    python tools/set_repository.py --ref main                               # back to main
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
URL = re.compile(r"^https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
PIP_URL = re.compile(r"git\+https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?(?:\.git)?(?:@[A-Za-z0-9._/-]+)?(?=[\"'\s])")


def install_url(url: str, ref: str) -> str:
    """What a setup cell installs: the default branch unpinned, any other ref pinned."""
    return f"git+{url}" if ref == "main" else f"git+{url}@{ref}"


def current() -> tuple[str, str]:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return config["repository"]["url"].rstrip("/"), str(config["repository"]["branch"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="https://github.com/OWNER/NAME (default: keep)")
    parser.add_argument("--ref", help="branch or tag the book and its notebooks use (default: keep)")
    args = parser.parse_args(argv)
    old_url, old_ref = current()
    url = (args.url or old_url).rstrip("/")
    ref = args.ref or old_ref
    if not URL.match(url):
        parser.error(f"--url must look like https://github.com/OWNER/NAME, got {url!r}")
    if not REF.match(ref) or ".." in ref:
        parser.error(f"--ref must be a branch or tag name such as main or v0.2.0, got {ref!r}")

    config = ROOT / "_config.yml"
    text = config.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^(  url: ).*$", rf"\g<1>{url}", text, count=1)
    text = re.sub(r"(?m)^(  branch: ).*$", rf"\g<1>{ref}", text, count=1)
    # the example Colab link in the comment
    text = text.replace(f"github/{old_url.removeprefix('https://github.com/')}/blob/{old_ref}/",
                        f"github/{url.removeprefix('https://github.com/')}/blob/{ref}/")
    config.write_text(text, encoding="utf-8")

    changed = [config.name]
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        cell = next(c for c in nb.cells if c.cell_type == "code")
        new = PIP_URL.sub(install_url(url, ref), cell.source)
        if new != cell.source:
            cell.source = new
            nbformat.write(nb, path)
            changed.append(f"chapters/{path.name}")
    for name in ("README.md", "intro.md"):
        path = ROOT / name
        text = path.read_text(encoding="utf-8")
        new = PIP_URL.sub(install_url(url, ref), text).replace(old_url, url)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(name)
    if current() != (url, ref):
        print(f"_config.yml was not updated as expected: {current()}", file=sys.stderr)
        return 1
    print(f"repository {url} at {ref}: updated {', '.join(changed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
