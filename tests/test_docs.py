"""The documentation builds: Sphinx html with warnings as errors, and the doctests.

This is how CI builds the docs (docs/conf.py): the html build runs autodoc on
every public name, the CLI reference (docs/_ext/cli_reference.py) and the
figure gallery (docs/_ext/figure_gallery.py); the doctest build runs every
``>>>`` example of the pages and of the autodoc'd docstrings. Each build runs
in a subprocess into ``tmp_path``, with a bounded timeout; on failure the tail
of its output is shown.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import symphase

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TIMEOUT = 600  # seconds; each build takes ~10-30 s on 2 cores (first doctest run compiles kernels)

pytest.importorskip("sphinx")
pytest.importorskip("numpydoc")
pytest.importorskip("myst_parser")


def _build(builder: str, out: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "sphinx", "-W", *extra, "-b", builder, "-d", str(out / "doctrees"),
           str(DOCS), str(out / builder)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT, env=env, check=False)


def _tail(proc: subprocess.CompletedProcess, n: int = 80) -> str:
    lines = (proc.stdout + proc.stderr).splitlines()
    return "\n".join(lines[-n:])


@pytest.mark.slow
def test_html_builds_without_warnings(tmp_path):
    proc = _build("html", tmp_path, "--keep-going")
    assert proc.returncode == 0, f"sphinx html build failed (rc={proc.returncode}):\n{_tail(proc)}"
    html = tmp_path / "html"
    for page in ("index", "quickstart", "model", "findings", "spectra", "figures", "cli", "api"):
        assert (html / f"{page}.html").is_file(), f"page {page}.html was not built"
    # the CLI reference is generated from the parser: every command's help is on the page
    from symphase.cli import COMMANDS
    cli = (html / "cli.html").read_text()
    for name in COMMANDS:
        assert f"usage: symphase {name}" in cli, f"symphase {name} missing from the CLI reference"
    # every figure of symphase.figures.FIGURES is shown as an image (copied into _images/) beside its code
    from symphase.figures import FIGURES
    figures = (html / "figures.html").read_text()
    text = re.sub(r"<[^>]+>", "", figures)  # the highlighted code without its markup
    for name in FIGURES:
        assert f'src="_images/{name}.png"' in figures, f"figure {name} is not shown on the figures page"
        assert (html / "_images" / f"{name}.png").is_file(), f"{name}.png was not copied into the site"
        assert f"symphase/figures/{name}.py" in text and f'NAME = "{name}"' in text.replace("&quot;", '"'), \
            f"the code of {name} is not on the figures page"


def test_api_page_covers_every_public_name():
    """docs/api.rst documents every name of ``symphase.__all__`` (a new public name must be added there)."""
    text = (DOCS / "api.rst").read_text()
    documented = set(re.findall(r"^\.\. (?:autoclass|autofunction|data):: (?:symphase\.)?([\w.]+)", text, re.MULTILINE))
    missing = [n for n in symphase.__all__ if n not in documented]
    assert not missing, f"not in docs/api.rst: {missing}"


@pytest.mark.slow
def test_doctests_pass(tmp_path):
    proc = _build("doctest", tmp_path)
    assert proc.returncode == 0, f"sphinx doctest build failed (rc={proc.returncode}):\n{_tail(proc)}"
    summary = (tmp_path / "doctest" / "output.txt").read_text()
    m = re.search(r"^\s*(\d+) tests", summary, re.MULTILINE)
    assert m and int(m.group(1)) > 20, f"too few doctests ran:\n{summary[-2000:]}"
    assert re.search(r"^\s*0 failures in tests", summary, re.MULTILINE), summary[-4000:]
