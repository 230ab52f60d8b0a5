"""Shared plotting helpers of the figures (matplotlib, Agg)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"plain": "C0", "paper": "C3", "exact": "C2", "exact_fixed": "C4", "paper_fixed": "C1"}
LABELS = {"plain": "plain", "paper": "BN, paper's rule", "exact": "BN, exact gradient",
          "exact_fixed": "BN exact, fixed gain", "paper_fixed": "BN paper, fixed gain"}


def subplots(nrows, ncols, **kw):
    kw.setdefault("figsize", (3.2 * ncols, 2.6 * nrows))
    kw.setdefault("constrained_layout", True)
    return plt.subplots(nrows, ncols, squeeze=False, **kw)
