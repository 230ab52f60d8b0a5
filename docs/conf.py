"""Sphinx configuration of the symphase documentation.

Build (warnings are errors, as in CI, see tests/test_docs.py)::

    sphinx-build -W --keep-going -b html docs docs/_build/html
    sphinx-build -W -b doctest docs docs/_build/doctest

No network access is needed at build time (no intersphinx).
"""
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "_ext"))           # the local extensions (cli_reference, figure_gallery)
sys.path.insert(0, os.path.dirname(HERE))                # symphase itself, when it is not installed

import symphase  # noqa: E402 (after the path set-up above)

project = "symphase"
author = "the symphase authors"
copyright = "the symphase authors"
version = release = symphase.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "cli_reference",
    "figure_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path = []

# -- MyST ---------------------------------------------------------------------
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3          # "model.md#4-the-symmetric-phase"-style links work

# -- autodoc / autosummary / numpydoc -------------------------------------------
autosummary_generate = False      # the API page lists its objects itself: no generated stubs in docs/
autodoc_member_order = "bysource"
autodoc_typehints = "none"        # the numpydoc Parameters sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
nitpicky = False

# -- doctest ----------------------------------------------------------------------
doctest_global_setup = """
import numpy as np
import symphase
"""

# -- HTML -----------------------------------------------------------------------------
html_theme = "alabaster"
html_title = f"symphase {release}"
html_static_path = []
