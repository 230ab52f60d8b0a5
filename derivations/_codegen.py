"""Code generation shared by the generators: printing, CSE, templates, docstrings, the command line.

A generated module is its template (``derivations/templates/<module>.py``, real
Python) with every placeholder ``GENERATED.<name>(<args>)`` replaced:

* a whole line ``<targets> = GENERATED.<name>(<args>)`` by :class:`Statements`,
  the common-subexpression-eliminated assignments of SymPy expressions to
  exactly ``<targets>``;
* ``GENERATED.<name>(<args>)`` inside a line by an :class:`Expression`;
* a whole line ``GENERATED.<name>()`` (in a docstring) by :class:`Text`;
* ``**GENERATED.<name>`` by :class:`Keywords` (the Numba options).

``<args>`` name what the generated code reads: the generator checks that they
are exactly the symbols of the expressions (``C`` stands for any ``C[...]``).
Lines ending in ``# template-only`` are dropped, each with the blank line after it
(so that the template's imports can be sorted as a linter wants them).
"""
from __future__ import annotations

import argparse
import difflib
import re
import sys
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import sympy as sp
from sympy.printing.numpy import NumPyPrinter

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = Path(__file__).resolve().parent / "templates"
GENERATED_DIR = ROOT / "symphase" / "_generated"

# The options of every generated Numba function's decorator (change them here and
# regenerate). derive.py adds inline="always" for the kernels of the ODE right-hand side.
NJIT_OPTIONS = {"cache": True, "error_model": "numpy"}

SPEC = "docs/model.md"
DERIVATION = "derivations/DERIVATION.md"
TEMPLATE_ONLY = "# template-only"
DOC_WIDTH = 100


# --------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------
class Printer(NumPyPrinter):
    """NumPy code with ``numpy.`` prefixes; a Symbol prints as its name (so ``C[a, p]`` is an array entry)."""

    def __init__(self):
        super().__init__({"fully_qualified_modules": True})

    def _print_Symbol(self, s):
        return s.name


PRINTER = Printer()


class OrderedPrinter(Printer):
    """:class:`Printer` that keeps the factors of an unevaluated product in the order written
    (``sp.Mul(..., evaluate=False)``): the generated code then rounds exactly as the product it
    replaces (left to right), which a kernel that must stay bit-identical needs."""

    def __init__(self):
        super().__init__()
        self._settings["order"] = "none"


ORDERED_PRINTER = OrderedPrinter()


def cse(assignments: Sequence[tuple[str, sp.Expr]], prefix: str) -> tuple[list[str], frozenset[str]]:
    """CSE over a group of assignments, printed as Python statements (temporaries ``<prefix>0, ...``),
    and the names of the symbols the statements read (besides their temporaries)."""
    names = [n for n, _ in assignments]
    exprs = [x for _, x in assignments]
    syms = sp.numbered_symbols(prefix)
    reps, reduced = sp.cse(exprs, symbols=syms, optimizations="basic")
    lines = [f"{s} = {PRINTER.doprint(v)}" for s, v in reps]
    lines += [f"{n} = {PRINTER.doprint(v)}" for n, v in zip(names, reduced)]
    temporaries = {s.name for s, _ in reps}
    return lines, symbol_names([v for _, v in reps] + list(reduced)) - temporaries


def symbol_names(exprs: Iterable[sp.Expr]) -> frozenset[str]:
    return frozenset(s.name for x in exprs for s in sp.sympify(x).free_symbols)


# --------------------------------------------------------------------------
# Template fills
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Statements:
    """Assignments to ``targets`` (with CSE temporaries), replacing ``targets = GENERATED.name(args)``."""
    lines: tuple[str, ...]
    targets: tuple[str, ...]
    symbols: frozenset[str]


@dataclass(frozen=True)
class Expression:
    """One printed expression, replacing ``GENERATED.name(args)`` inside a line."""
    text: str
    symbols: frozenset[str]


@dataclass(frozen=True)
class Text:
    """Lines of text (a docstring's equations), replacing a line ``GENERATED.name()``."""
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Keywords:
    """Keyword arguments, replacing ``**GENERATED.name``."""
    text: str


Fill = Statements | Expression | Text | Keywords


def statements(assignments: Sequence[tuple[str, sp.Expr]], prefix: str = "t") -> Statements:
    lines, symbols = cse(assignments, prefix)
    return Statements(tuple(lines), tuple(n for n, _ in assignments), symbols)


def expression(expr: sp.Expr, *, parenthesize: bool = False, ordered: bool = False) -> Expression:
    """One expression; ``ordered``: an unevaluated product printed in its written order (:class:`OrderedPrinter`)."""
    text = (ORDERED_PRINTER if ordered else PRINTER).doprint(expr)
    return Expression(f"({text})" if parenthesize else text, symbol_names([expr]))


def keywords(options: Mapping[str, object]) -> Keywords:
    return Keywords(", ".join(f'{k}="{v}"' if isinstance(v, str) else f"{k}={v!r}" for k, v in options.items()))


PLACEHOLDER = re.compile(r"(\*\*)?GENERATED\.(\w+)")


def _call_args(line: str, start: int) -> tuple[str, int]:
    """The argument text of the call whose ``(`` is at ``start``, and the index after its ``)``."""
    depth = 0
    for j in range(start, len(line)):
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(line[j], 0)
        if depth == 0:
            return line[start + 1:j], j + 1
    raise ValueError(f"unbalanced placeholder call: {line.strip()}")


def _split_args(args: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in args:
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def _check_args(where: str, name: str, args: str, symbols: frozenset[str]) -> None:
    """The placeholder's arguments are exactly what the expressions read (``C`` covers ``C[...]``)."""
    given = _split_args(args)

    def covers(a, s):
        return s == a or s.startswith(a + "[")

    missing = sorted(s for s in symbols if not any(covers(a, s) for a in given))
    unused = [a for a in given if not any(covers(a, s) for s in symbols)]
    if missing or unused:
        raise ValueError(f"{where}: GENERATED.{name}({args}): the expressions read {sorted(symbols)}; "
                         f"not in the arguments: {missing}; arguments not read: {unused}")


def fill_template(template: Path, fills: Mapping[str, Fill]) -> str:
    """The template's text with every placeholder replaced by its fill (see the module docstring)."""
    used: set[str] = set()
    out: list[str] = []
    drop_blank = False
    for lineno, line in enumerate(template.read_text().splitlines(), 1):
        if line.rstrip().endswith(TEMPLATE_ONLY):
            drop_blank = True
            continue
        if drop_blank and not line.strip():
            drop_blank = False
            continue
        drop_blank = False
        where = f"{template.name}:{lineno}"
        m = re.fullmatch(r"(\s*)(?:(.+?) = )?GENERATED\.(\w+)(\(.*)", line)
        if m and isinstance(fills.get(m[3]), (Statements, Text)):
            indent, targets, name = m[1], m[2], m[3]
            args, end = _call_args(line, m.start(4))
            if end != len(line):
                raise ValueError(f"{where}: a statement placeholder must be the whole line")
            fill = fills[name]
            if isinstance(fill, Text):
                if targets or args:
                    raise ValueError(f"{where}: GENERATED.{name}() takes no arguments and assigns nothing")
                out += [indent + x if x else "" for x in fill.lines]
            else:
                if "".join((targets or "").split()) != ",".join("".join(t.split()) for t in fill.targets):
                    raise ValueError(f"{where}: GENERATED.{name} assigns {', '.join(fill.targets)}, "
                                     f"the template {targets}")
                _check_args(where, name, args, fill.symbols)
                out += [indent + x for x in fill.lines]
            used.add(name)
            continue
        pieces, pos = [], 0
        for m in PLACEHOLDER.finditer(line):
            if m.start() < pos:
                continue
            name = m[2]
            fill = fills.get(name)
            if fill is None:
                raise ValueError(f"{where}: no fill for GENERATED.{name}")
            if isinstance(fill, Keywords):
                if not m[1]:
                    raise ValueError(f"{where}: keywords GENERATED.{name} must be spread with **")
                pieces += [line[pos:m.start()], fill.text]
                pos = m.end()
            elif isinstance(fill, Expression):
                if m[1] or m.end() >= len(line) or line[m.end()] != "(":
                    raise ValueError(f"{where}: expression GENERATED.{name} is written GENERATED.{name}(args)")
                args, end = _call_args(line, m.end())
                _check_args(where, name, args, fill.symbols)
                pieces += [line[pos:m.start()], fill.text]
                pos = end
            else:
                raise TypeError(f"{where}: GENERATED.{name} ({type(fill).__name__}) must be a whole line")
            used.add(name)
        out.append("".join(pieces) + line[pos:])
    unused = sorted(set(fills) - used)
    if unused:
        raise ValueError(f"{template.name}: fills not used by the template: {unused}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# Docstrings
# --------------------------------------------------------------------------
def wrap(text: str, width: int = DOC_WIDTH, subsequent_indent: str = "") -> list[str]:
    """Wrap at spaces outside brackets if that fits, else one bracket level deeper, and so on."""
    for max_depth in range(8):
        depth, chars = 0, []
        for ch in text:
            depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(ch, 0)
            chars.append("\0" if ch == " " and depth > max_depth else ch)
        lines = [x.replace("\0", " ") for x in textwrap.wrap("".join(chars), width, subsequent_indent=subsequent_indent,
                                                             break_long_words=False, break_on_hyphens=False)]
        if all(len(x) <= width for x in lines):
            break
    return lines


def formula(lhs: str, rhs, width: int = DOC_WIDTH) -> list[str]:
    """``lhs = rhs`` (``rhs`` a SymPy expression, printed by ``sp.sstr``, or a string), wrapped."""
    text = rhs if isinstance(rhs, str) else sp.sstr(rhs)
    return wrap(f"{lhs} = {text}", width, " " * (len(lhs) - len(lhs.lstrip()) + 4))


def doc(*blocks: Sequence[str] | str, spec: str, derivation: str, generator: str) -> Text:
    """A docstring's generated part: the equations (each block a string, wrapped here, or the
    lines of a :func:`formula`) and where they come from."""
    lines: list[str] = []
    for blk in blocks:
        lines += wrap(blk) if isinstance(blk, str) else list(blk)
    lines += ["", f"Spec: {SPEC} {spec}. Derivation: {DERIVATION} {derivation}.",
              f"Generated by `python -m {generator}`; do not edit."]
    return Text(tuple(lines))


def header(generator: str, template: str, checks: Iterable[str]) -> str:
    """The comment block on top of a generated module: provenance, how to regenerate, the checks."""
    path = generator.replace(".", "/") + ".py"
    lines = [f"# GENERATED by {path} from the SymPy derivation. DO NOT EDIT.",
             f"# Regenerate with `python -m {generator}` (template: {template});",
             "# tests/test_generated.py fails when this file differs from what the derivation produces.",
             "#",
             "# Identities the derivation checked before writing this file:"]
    lines += [f"#   - {c}" for c in checks]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# The command line every generator shares
# --------------------------------------------------------------------------
def clear_numba_cache() -> None:
    """Numba's on-disk cache tracks only each function's own file, not the
    generated functions it calls: drop it so every kernel recompiles."""
    for path in (ROOT / "symphase").rglob("*.nb[ic]"):
        path.unlink()


def write_or_check(module: str, generate: Callable[[], str], checked: Callable[[], Sequence[str]], target: Path,
                   doc: str, argv=None, *, numba_module: bool = True) -> int:
    """Write ``target`` from ``generate()``, or with ``--check`` fail (exit 1, with
    the diff) when the committed file differs. ``checked()``: the identities the
    derivation asserted. ``numba_module``: clear Numba's on-disk cache after
    writing (see :func:`clear_numba_cache`)."""
    ap = argparse.ArgumentParser(prog=f"python -m {module}", description=doc.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if the committed generated module differs")
    args = ap.parse_args(argv)
    code = generate()
    n = len(checked())
    if args.check:
        current = target.read_text() if target.exists() else ""
        if current != code:
            diff = "".join(difflib.unified_diff(current.splitlines(True), code.splitlines(True),
                                                str(target), "derived"))
            print(f"{target} is not current; run python -m {module}\n{diff[-5000:]}", file=sys.stderr)
            return 1
        print(f"{target.relative_to(ROOT)} is current ({n} identities checked)")
        return 0
    target.write_text(code)
    print(f"wrote {target.relative_to(ROOT)} ({n} identities checked)")
    if numba_module:
        clear_numba_cache()
    return 0
