"""Shared plotting helpers of the figures (matplotlib, Agg).

matplotlib is imported when a figure is drawn, not when a figure module is
imported: computing a figure's data needs none of it.
"""
from __future__ import annotations

COLORS = {"plain": "C0", "paper": "C3", "exact": "C2", "exact_fixed": "C4", "paper_fixed": "C1"}
LABELS = {"plain": "plain", "paper": "BN, paper's rule", "exact": "BN, exact gradient",
          "exact_fixed": "BN exact, fixed gain", "paper_fixed": "BN paper, fixed gain"}


def subplots(nrows, ncols, **kw):
    """``plt.subplots`` on the Agg backend, ``squeeze=False``, sized per panel and laid out by constraints."""
    import matplotlib  # an optional heavy dependency: only where a figure is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kw.setdefault("figsize", (3.2 * ncols, 2.6 * nrows))
    kw.setdefault("constrained_layout", True)
    return plt.subplots(nrows, ncols, squeeze=False, **kw)
