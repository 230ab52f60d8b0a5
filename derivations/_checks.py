"""The one check helper of the derivations: assert that an expression is 0, record it.

Every derivation in this package keeps a :class:`Checks` registry. Each step
that can be stated as an identity ``expr == 0`` is asserted with
:meth:`Checks.check` before anything is written, and the names of the checked
identities are listed in the header of the generated module (or printed, for
``python -m derivations.paper_bn``).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

import sympy as sp

# How an expression is shown to be 0.
REQUIRED = "required"    # simplify(expr) is 0; the points (if any) must hold too
PREFERRED = "preferred"  # simplify(expr) is 0, or else every point holds
SKIP = "skip"            # the points only (a numeric check, e.g. a sign)


def root_simplify(expr):
    """Simplify an algebraic expression whose square roots SymPy leaves unsplit: factor
    each root's argument and split it over the factors (``force``: valid where every
    factor is positive, which the exact points given with the same check back up)."""
    expr = sp.together(expr)
    expr = expr.replace(lambda x: x.is_Pow and x.exp.is_Rational and x.exp.q == 2,
                        lambda x: sp.Pow(sp.factor(x.base), x.exp))
    return sp.simplify(sp.powdenest(sp.expand_power_base(expr, force=True), force=True))


class CheckFailed(AssertionError):
    """A derivation step did not hold: the generator stops before writing."""


def residual_at(expr, point: Mapping, digits: int = 40):
    """``expr`` at an exact point, evaluated to ``digits`` digits."""
    return sp.N(sp.sympify(expr).subs(point), digits)


class Checks:
    """The identities one derivation asserted, in order.

    ``collect_failures=False`` (the generators): a failed check raises
    :class:`CheckFailed`. ``True`` (``paper_bn``, a report): failures are
    collected in :attr:`failed` and the check returns ``False``.
    """

    def __init__(self, *, collect_failures: bool = False):
        self.passed: list[str] = []
        self.failed: list[str] = []
        self.collect_failures = collect_failures

    def __iter__(self) -> Iterator[str]:
        return iter(self.passed)

    def __len__(self) -> int:
        return len(self.passed)

    def fail(self, message: str) -> bool:
        if not self.collect_failures:
            raise CheckFailed(f"derivation check failed: {message}")
        self.failed.append(message)
        return False

    def check(self, name: str, expr, *, simplify: Callable = sp.simplify, points: Iterable[Mapping] = (),
              tol: float = 1e-30, symbolic: str = REQUIRED) -> bool:
        """Assert ``expr == 0`` and record ``name``.

        ``simplify`` must reduce ``expr`` to 0 (``symbolic=REQUIRED``, the default).
        ``points``: exact substitutions at which ``|expr|`` (to 40 digits) must
        be at most ``tol`` as well; with ``symbolic=PREFERRED`` they decide when
        ``simplify`` does not reach 0 (SymPy cannot always decide), with
        ``symbolic=SKIP`` they alone decide.
        """
        points = list(points)
        if symbolic not in (REQUIRED, PREFERRED, SKIP):
            raise ValueError(f"symbolic={symbolic!r}")
        if points and symbolic != PREFERRED:
            for point in points:
                value = residual_at(expr, point)
                if abs(value) > tol:
                    return self.fail(f"{name} at {_show(point)}: {value}")
        if symbolic == SKIP:
            self.passed.append(name)
            return True
        reduced = simplify(expr)
        if reduced == 0:
            self.passed.append(name)
            return True
        if symbolic == PREFERRED and points:
            worst = max(abs(residual_at(expr, point)) for point in points)
            if worst <= tol:
                self.passed.append(f"{name} (at {len(points)} exact points, |residual| < {tol:g})")
                return True
        return self.fail(f"{name}: {reduced} != 0")


def _show(point: Mapping) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items()) or "no substitution"
