"""What pyproject.toml claims, against what `make floor` rehearses and what cnnlib imports.

`make floor` (tools/check_floor.sh) installs tools/floor-requirements.txt on the Python it
names and runs the unit tests there. These tests keep that rehearsal and the claims in
pyproject.toml (and the README) from drifting apart; they read files and run nothing.
"""
from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
FLOOR_SCRIPT = ROOT / "tools" / "check_floor.sh"
FLOOR_PINS = ROOT / "tools" / "floor-requirements.txt"

# Imported by cnnlib but deliberately not dependencies, each with the reason.
OPTIONAL_IMPORTS = {
    "myst_nb": "only while the book is built; cnnlib.notebook.glue falls back without it",
    "IPython": "only inside a notebook, which always has it (cnnlib.notebook.glue)",
}


def _pins(path: Path) -> dict[str, Version]:
    """`name==version` lines (comments and blank lines skipped), by canonical name."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", f"{path.name}: {line!r} is not an exact pin"
            pins[canonicalize_name(req.name)] = Version(spec.version)
    return pins


def _lower_bound(specifier: SpecifierSet, what: str) -> Version:
    """The version of a specifier that is a single lower bound `>=X` and nothing else."""
    specs = list(specifier)
    assert len(specs) == 1 and specs[0].operator == ">=", (
        f"{what}: {str(specifier)!r} must be one lower bound '>=X' (no upper bound: on Colab "
        "`pip install git+...` must keep the torch that is there)")
    return Version(specs[0].version)


def _declared() -> dict[str, Version]:
    reqs = [Requirement(r) for r in PYPROJECT["dependencies"]]
    return {canonicalize_name(r.name): _lower_bound(r.specifier, r.name) for r in reqs}


def _imported_modules(package: Path) -> dict[str, list[str]]:
    """Top-level names of the absolute imports anywhere in ``package`` (inside functions
    too), each with the files that import it."""
    found: dict[str, list[str]] = {}
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], []).append(path.relative_to(ROOT).as_posix())
    return found


def test_lower_bounds_are_the_rehearsed_floor():
    declared, pinned = _declared(), _pins(FLOOR_PINS)
    assert sorted(declared) == sorted(pinned), "pyproject.toml and the floor pins name different packages"
    for name, bound in declared.items():
        assert bound == pinned[name], (f"pyproject.toml declares {name}>={bound} but `make floor` "
                                       f"rehearses {name}=={pinned[name]}")


def test_requires_python_is_the_rehearsed_python():
    lowest = _lower_bound(SpecifierSet(PYPROJECT["requires-python"]), "requires-python")
    match = re.search(r"^FLOOR_PYTHON=(\S+)$", FLOOR_SCRIPT.read_text(encoding="utf-8"), re.M)
    assert match, f"{FLOOR_SCRIPT.name} sets no FLOOR_PYTHON"
    assert Version(match.group(1)) == lowest, (
        f"requires-python claims {lowest} but `make floor` runs Python {match.group(1)}")


def test_the_course_environment_lies_within_the_declared_ranges():
    # `make venv` installs cnnlib with --no-deps: nothing else would notice a lower bound
    # above the pinned torch that the whole course runs on.
    course = _pins(ROOT / "requirements.txt")
    for name, bound in _declared().items():
        assert name in course, f"{name} is a dependency of cnnlib but not pinned in requirements.txt"
        assert course[name] >= bound, f"requirements.txt pins {name}=={course[name]}, below {bound}"


def test_every_third_party_import_of_cnnlib_is_a_declared_dependency():
    imported = _imported_modules(ROOT / "cnnlib")
    third_party = {m: files for m, files in imported.items()
                   if m not in sys.stdlib_module_names and m != "cnnlib" and m != "__future__"}
    dists = packages_distributions()  # import name -> distributions, in this environment
    declared = set(_declared())
    needed = {}
    for module, files in third_party.items():
        if module in OPTIONAL_IMPORTS:
            continue
        for dist in dists.get(module, [module]):
            needed.setdefault(canonicalize_name(dist), sorted(set(files)))
    undeclared = {d: f for d, f in needed.items() if d not in declared}
    assert not undeclared, f"cnnlib imports packages pyproject.toml does not declare: {undeclared}"
    unused = declared - set(needed)
    assert not unused, f"pyproject.toml declares packages cnnlib never imports: {sorted(unused)}"
    stale = set(OPTIONAL_IMPORTS) - set(third_party)
    assert not stale, f"OPTIONAL_IMPORTS lists modules cnnlib no longer imports: {sorted(stale)}"


def test_readme_states_the_rehearsed_floor():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Supported versions\n(.*?)(?=^## |\Z)", readme, re.M | re.S)
    assert match, "README.md has no '## Supported versions' section"
    section = match.group(1)
    lowest = _lower_bound(SpecifierSet(PYPROJECT["requires-python"]), "requires-python")
    assert f"Python {lowest}" in section
    for name, version in _pins(FLOOR_PINS).items():
        assert f"{name} {version}" in section, f"README's Supported versions does not say {name} {version}"
    assert "make floor" in section


@pytest.mark.parametrize("text, error", [
    ("torch==2.4.0\nnumpy>=1.23\n", "is not an exact pin"),
])
def test_pins_must_be_exact(tmp_path, text, error):
    path = tmp_path / "pins.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AssertionError, match=error):
        _pins(path)


@pytest.mark.parametrize("spec", ["<3", ">=2.4,<3", "==2.4.0", ">2.4"])
def test_only_a_single_lower_bound_counts_as_one(spec):
    with pytest.raises(AssertionError, match="must be one lower bound"):
        _lower_bound(SpecifierSet(spec), "torch")
