"""Templates of the generated modules of ``symphase/_generated/``.

Each template is the hand-written part of one generated module, as real Python
that linters and ``py_compile`` read: the loop structure, the signatures, the
docstrings' prose. The generators (``python -m derivations.<generator>``) read a
template as text and replace every ``GENERATED.<name>(<args>)`` by code or text
printed from the SymPy derivation (see ``derivations/_codegen.py``). The
templates are never imported or run; :data:`GENERATED` exists so that the names
resolve for linters and type checkers.
"""


class _Placeholders:
    """``GENERATED.<name>``: where a generator splices SymPy output into a template."""

    def __getattr__(self, name):
        raise RuntimeError(f"GENERATED.{name} is a template placeholder: the templates in derivations/templates/ "
                           "are read by the generators, not run")


GENERATED = _Placeholders()
