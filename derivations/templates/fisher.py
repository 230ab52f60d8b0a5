# Template of symphase/_generated/fisher.py (real Python; read, never run, by  # template-only
# `python -m derivations.fisher`, which replaces every GENERATED.<name>(<args>) by  # template-only
# code printed from the SymPy derivation; <args> are exactly what that code reads).  # template-only
"""Gaussian averages of the Fisher information of the weights (generated; plain Python, no Numba).

For a pair of effective pre-activations ``(a, b) ~ N(0, [[caa, cab], [cab, cbb]])``
and ``phi(u) = erf(u/sqrt 2)``. Used by :mod:`symphase._curvature` to build
``F = <grad s grad s^T>`` in closed form (docs/model.md §10).
"""
import numpy  # noqa: F401  (the generated code calls it)

from derivations.templates import GENERATED  # template-only


def pair_averages(caa, cbb, cab):
    """``(E[phi'(a) phi'(b)], E[phi'''(a) phi'(b)], E[phi''(a) phi''(b)], E[phi'(a) phi'''(b)])``.

    GENERATED.doc_pair_averages()
    """
    e11, e31, e22, e13 = GENERATED.averages(caa, cbb, cab)
    return e11, e31, e22, e13
