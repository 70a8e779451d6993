"""tools/set_repository.py moves the book to a fork or pins a release, and back, everywhere."""
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _copy(tmp_path: Path) -> Path:
    (tmp_path / "tools").mkdir()
    shutil.copy(ROOT / "tools" / "set_repository.py", tmp_path / "tools")
    for name in ("_config.yml", "README.md", "intro.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "chapters", tmp_path / "chapters",
                    ignore=shutil.ignore_patterns("*.py", ".ipynb_checkpoints"))
    return tmp_path


def _run(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(root / "tools" / "set_repository.py"), *args],
                          capture_output=True, text=True, timeout=120)


def _setup_cells(root: Path) -> list[str]:
    return [next(c for c in nbformat.read(p, as_version=4).cells if c.cell_type == "code").source
            for p in sorted((root / "chapters").glob("*.ipynb"))]


def test_a_release_pins_config_and_every_setup_cell_and_main_restores_them(tmp_path):
    root = _copy(tmp_path)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and "tools" not in p.parts}
    proc = _run(root, "--url", "https://github.com/someone/fork", "--ref", "v9.8.7")
    assert proc.returncode == 0, proc.stderr
    config = yaml.safe_load((root / "_config.yml").read_text())
    assert config["repository"] == {**config["repository"], "url": "https://github.com/someone/fork",
                                    "branch": "v9.8.7"}
    for source in _setup_cells(root):
        assert '"git+https://github.com/someone/fork@v9.8.7"' in source
        assert "open-cnn-course" not in source
    assert "git+https://github.com/someone/fork@v9.8.7" in (root / "README.md").read_text()
    assert "https://github.com/someone/fork" in (root / "intro.md").read_text()

    original = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    proc = _run(root, "--url", original["url"], "--ref", original["branch"])
    assert proc.returncode == 0, proc.stderr
    after = {p: p.read_bytes() for p in before}
    assert [p.name for p in before if before[p] != after[p]] == []


def test_bad_urls_and_refs_are_refused_and_change_nothing(tmp_path):
    root = _copy(tmp_path)
    config = (root / "_config.yml").read_bytes()
    for args in (["--url", "http://example.com/x"], ["--url", "https://github.com/only-owner"],
                 ["--ref", "two words"], ["--ref", "a..b"]):
        proc = _run(root, *args)
        assert proc.returncode == 2 and "must" in proc.stderr, (args, proc.stderr)
    assert (root / "_config.yml").read_bytes() == config
