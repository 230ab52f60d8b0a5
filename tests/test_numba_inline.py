"""The fix to Numba's IR inliner (symphase._numba_inline): applied to the installed Numba, the same
compiled results, and the scope copied once per inlined call rather than once per block."""
from __future__ import annotations

import math
import subprocess
import sys

import numba
import numpy as np
import pytest
from numba.core import inline_closurecall as icc
from numba.core import ir

from symphase import _numba_inline as ni


def _callee(x, out):
    """Many blocks (loops, branches) and variables, as the engines have."""
    acc = 0.0
    for i in range(x.size):
        if x[i] > 0.5:
            acc += math.sin(x[i])
        elif x[i] > 0.1:
            acc -= x[i] * x[i]
        else:
            for j in range(3):
                acc += j * x[i]
        out[i] = acc
    return acc


def _compile(fixed: bool):
    """A fresh caller of a fresh ``inline="always"`` callee, compiled with the fixed or Numba's own
    inliner; returns ``(result, out, number of ir.Var deep copies during the compile)``."""
    callee = numba.njit(inline="always")(_callee)

    @numba.njit
    def caller(x, out):
        return callee(x, out) + 2.0 * callee(x[::-1].copy(), out)

    original = ni.APPLIED and icc.InlineWorker.inline_ir.__wrapped_original__
    patched = icc.InlineWorker.inline_ir
    copies = [0]
    deepcopy = ir.Var.__deepcopy__

    def counting(self, memo):
        copies[0] += 1
        return deepcopy(self, memo)

    ir.Var.__deepcopy__ = counting
    if not fixed:
        icc.InlineWorker.inline_ir = original
    try:
        x = np.linspace(0.0, 1.0, 23)
        out = np.empty_like(x)
        return caller(x, out), out, copies[0]
    finally:
        ir.Var.__deepcopy__ = deepcopy
        icc.InlineWorker.inline_ir = patched


def test_the_fix_applies_to_the_installed_numba():
    """The text it replaces is in this Numba's ``inline_ir`` exactly once, and the fix is in place (a Numba
    whose source differs is left alone: then this test fails and says so, and the fix must be redone)."""
    import inspect
    import textwrap
    assert ni.apply(), f"Numba {numba.__version__}: inline_ir is not the source symphase._numba_inline fixes"
    source = textwrap.dedent(inspect.getsource(icc.InlineWorker.inline_ir.__wrapped_original__))
    assert source.count(ni._ORIGINAL) == 1
    assert ni.apply() is True and icc.InlineWorker.inline_ir.__wrapped_original__ is not icc.InlineWorker.inline_ir


def test_the_fix_waits_for_the_first_compile():
    """``import symphase`` does not import and rewrite Numba's inliner (77 ms, needless for a command that stops at
    its arguments); the process's first compile applies the fix, before that compile inlines anything."""
    code = ("import sys, numba, symphase; from symphase import _numba_inline as ni; "
            "print('numba.core.inline_closurecall' in sys.modules, ni.APPLIED); "
            "numba.njit(lambda x: x + 1)(1); print(ni.APPLIED)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout
    assert out.split() == ["False", "False", "True"], out


def test_inlined_code_computes_the_same_and_copies_the_scope_once():
    """Numba's inliner and the fixed one compile the same function to the same numbers (bit for bit); the fixed
    one deep-copies far fewer variables (each block's copy no longer copies the shared scope again)."""
    if not ni.apply():
        pytest.skip("the fix is not applied to this Numba (test_the_fix_applies_to_the_installed_numba says why)")
    got, got_out, fixed_copies = _compile(True)
    want, want_out, numba_copies = _compile(False)
    assert got == want and np.array_equal(got_out, want_out)
    assert fixed_copies > 0 and numba_copies >= 3 * fixed_copies, (fixed_copies, numba_copies)
