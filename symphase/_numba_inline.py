"""Numba's compile time: one fix to its IR inliner (``inline="always"``), applied at the first compile.

Numba inlines an ``inline="always"`` function by deep-copying the callee's IR block by block
(``numba.core.inline_closurecall.InlineWorker.inline_ir``, its inner ``copy_ir``). Each block's
deep copy starts a new memo, so it copies the whole variable scope, which every block shares,
once per block: the cost is (blocks x variables) per call site, and the engines here inline
large functions (the rule-generic steppers ``sgd_steps_with``, ``sde_example_steps_with``,
``overlap_steps_with`` into each rule's wrapper). This is numba/numba#8989 (open).

:func:`apply` gives the blocks of one copy one memo: the scope is copied once and shared by the
copied blocks, as it is by the original ones. Nothing else changes. The inliner then reads that
one scope (it asserts there is exactly one), so the inlined IR, and the compiled code, are the same.
Measured on the suite's kernels: the first compile of ``simulate`` on the weights 9.7 -> 7.8 s, the
chain 5.1 -> 3.6 s, the SDE 7.0 -> 5.2 s, ``integrate`` 4.3 -> 3.6 s.

The fix is applied only where Numba's source is the one it was written against (the text below is
found in ``inline_ir``); otherwise Numba is left as it is and :data:`APPLIED` stays False. No number
depends on it, only the compile time. It is applied at the start of the process's first compile (a
listener on Numba's ``numba:compile`` event), not at import: importing Numba's inliner and rewriting it
took 77 ms of ``import symphase`` (of 560 ms), which a command that stops at its arguments (``--help``, a
usage error) does not need; a run that loads every kernel from the cache imports the inliner anyway but
does not rewrite it (8 ms).
"""
from __future__ import annotations

import inspect
import textwrap

#: Numba's per-block copy (inside ``InlineWorker.inline_ir``), and the same with one memo per copy.
_ORIGINAL = """        kernel_copy.blocks = {}
        for block_label, block in the_ir.blocks.items():
            new_block = copy.deepcopy(the_ir.blocks[block_label])"""
_FIXED = """        kernel_copy.blocks = {}
        memo = {}  # symphase._numba_inline: the shared scope is copied once, not once per block
        for block_label, block in the_ir.blocks.items():
            new_block = copy.deepcopy(the_ir.blocks[block_label], memo)"""

#: Whether :func:`apply` replaced Numba's ``inline_ir``; whether it has looked at Numba's source yet.
APPLIED = False
_TRIED = False


def apply() -> bool:
    """Replace ``InlineWorker.inline_ir`` by the same source with one deep-copy memo per IR copy, if
    Numba's source is the expected one. Returns :data:`APPLIED`. Idempotent; a source that differs is read
    once only."""
    global APPLIED, _TRIED
    if _TRIED:
        return APPLIED
    _TRIED = True
    try:
        from numba.core import inline_closurecall as icc
        source = textwrap.dedent(inspect.getsource(icc.InlineWorker.inline_ir))
    except (ImportError, AttributeError, OSError, TypeError):  # another Numba, or no source installed
        return False
    if source.count(_ORIGINAL) != 1:
        return False
    namespace: dict = {}
    exec(compile(source.replace(_ORIGINAL, _FIXED), icc.__file__, "exec"), icc.__dict__, namespace)
    fixed = namespace["inline_ir"]
    fixed.__doc__ = icc.InlineWorker.inline_ir.__doc__
    fixed.__wrapped_original__ = icc.InlineWorker.inline_ir
    icc.InlineWorker.inline_ir = fixed
    APPLIED = True
    return True


def _listen():
    """Register :func:`apply` to run when Numba starts compiling (once; later compiles find it applied)."""
    from numba.core import event

    class _OnFirstCompile(event.Listener):
        def on_start(self, ev):
            if not _TRIED:
                apply()

        def on_end(self, ev):
            pass

    event.register("numba:compile", _OnFirstCompile())


_listen()
