"""symphase: statistical mechanics of online learning in soft committee machines,
with and without batch normalization.

The public names are re-exported here; the implementation lives in private
modules (``symphase._ode``, ``symphase._simulate``, ...), as in scipy. The
layers import one way, with no cycles: ``derivations/`` (the only SymPy user)
generates ``symphase._generated``; the ground (``_layout``, ``_validate``,
``_rng``, ``_io``, the result protocol ``_results``) imports nothing of the
package; the kernels (``_kernels``) use the generated code; the model and its
compiled system (``_model``) build the kernels' inputs, beside the engines
(``_integrators``, ``_sgd``, ``_overlap_sgd``); the theory and the methods
(``_fluctuations``, ``_curvature``, ``_reduced``, ``_rule``, ``_methods``) read
a model; the API (``integrate``, ``simulate``, ``symmetric_fixed_point``; over
them ``compare`` and ``escape_time``, which call them; over those ``sweep``,
beside ``load``) validates once and returns results that share one protocol;
the figures (``symphase.figures``) stand beside this module, and the CLI
(``symphase.cli``) on top. The specification is ``docs/model.md``;
``docs/vocabulary.md`` is the API's vocabulary (a state or a start is one
argument, :class:`State`; ``eta`` positional; one set of ODE tolerances).
"""
from . import (
    _numba_cache,  # noqa: F401  (before any kernel: a read-only install still caches)
    _numba_inline,  # noqa: F401  (Numba's inliner without its quadratic copy: compile time only)
    _rule,  # noqa: F401  (registers the built-in learning rules, docs/model.md §2.4)
)
from ._compare import Comparison, compare
from ._curvature import Curvature, CurvatureTrajectory, curvature, curvature_along
from ._escape import EscapeTime, escape_time
from ._fixedpoint import FixedPoint
from ._fixedpoint_solve import symmetric_fixed_point
from ._fluctuations import diffusion_matrix
from ._initial import near_fixed_point, overlaps, random_initial, random_weights
from ._layout import StateLayout
from ._load import load
from ._model import Committee, System
from ._ode import generalization_error, integrate, rhs
from ._plateau import escape_alpha, plateau_value
from ._reduced import paper_fixed_point, reduced_generalization_error, reduced_gradient, reduced_hessian, reduced_rhs
from ._results import Status, SymphaseError
from ._run_checks import default_alphas
from ._simulate import SimulationResult, simulate
from ._state import Diffusion, Overlaps, Rates, ReducedDerivative, ReducedRates, State, SymmetricState, Weights
from ._sweep import sweep
from ._sweep_store import SweepResult
from ._trajectory import ODEResult
from ._version import __version__
from ._weights import weights_from_overlaps

__all__ = [
    "Committee", "Comparison", "Curvature", "CurvatureTrajectory", "Diffusion", "EscapeTime", "FixedPoint",
    "ODEResult", "Overlaps", "Rates", "ReducedDerivative", "ReducedRates", "SimulationResult", "State",
    "StateLayout", "Status", "SweepResult", "SymmetricState", "SymphaseError", "System", "Weights", "__version__",
    "compare", "curvature", "curvature_along", "default_alphas", "diffusion_matrix", "escape_alpha", "escape_time",
    "generalization_error", "integrate", "load", "near_fixed_point", "overlaps", "paper_fixed_point",
    "plateau_value", "random_initial", "random_weights", "reduced_generalization_error", "reduced_gradient",
    "reduced_hessian", "reduced_rhs", "rhs", "simulate", "sweep", "symmetric_fixed_point", "weights_from_overlaps",
]
