"""Named kernel inputs (issue 19, item 4): no function takes more than 12 positional arguments.

Kernels take their work arrays and constants as named records built in one place per engine
(``_kernels.KernelArgs`` for the ODE's right-hand side, ``_integrators.StepperArgs``,
``_sgd.WeightArgs``, ``_overlap_sgd.ChainArgs``), not as long positional lists. The count is
``len(posonlyargs) + len(args)`` of every ``def`` and ``lambda`` in the package (generated code
included), the derivations, the tests and the benchmarks; none is over the limit (the last two,
the generated ``psi_q`` and reduced ``rates``, take records since this session).
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 12
TREES = ("symphase", "derivations", "tests", "benchmarks")

def positional_arities() -> dict[str, int]:
    """``path:name -> the largest positional arity`` of every function in :data:`TREES`."""
    out: dict[str, int] = {}
    for tree in TREES:
        for path in sorted((ROOT / tree).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    key = f"{rel}:{getattr(node, 'name', '<lambda>')}"
                    out[key] = max(out.get(key, 0), len(node.args.posonlyargs) + len(node.args.args))
    return out


def test_no_function_takes_more_than_12_positional_arguments():
    arity = positional_arities()
    over = {key: n for key, n in arity.items() if n > LIMIT}
    assert not over, f"more than {LIMIT} positional arguments (pass a named record instead): {over}"

