"""The tree is lint-clean under the project's ruff rules (pyproject.toml, ``[tool.ruff.lint]``).

ruff is pinned in the ``test`` extra, so CI, which installs that extra and runs
this suite, holds the tree at zero findings.
"""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"ruff findings (run `ruff check .`):\n{proc.stdout}{proc.stderr}"
