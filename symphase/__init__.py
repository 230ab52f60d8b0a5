"""symphase: statistical mechanics of online learning in soft committee machines,
with and without batch normalization.

The public names are re-exported here; the implementation lives in private
modules (``symphase._ode``, ``symphase._simulate``, ...), as in scipy. The
layers import one way: ``derivations/`` (the only SymPy user) generates
``symphase._generated``; the kernels (``_kernels``, ``_integrators``, ``_sgd``,
``_rng``) use it; the model and its compiled system (``_model``, ``_system``)
build the kernels' inputs; the API (``integrate``, ``simulate``,
``symmetric_fixed_point``, ``compare``, ``sweep``) validates once and returns
results that share one protocol (``_results``); the CLI (``symphase.cli``) and
the figures (``symphase.figures``) sit on top. The specification is
``docs/model.md``; ``docs/vocabulary.md`` is the API's vocabulary (a state or a
start is one argument, :class:`State`; ``eta`` positional; one set of ODE
tolerances).
"""
from . import _numba_cache  # noqa: F401  (before any kernel: a read-only install still caches)
from ._compare import Comparison, compare, escape_alpha, plateau_value
from ._curvature import Curvature, CurvatureTrajectory, curvature, curvature_along
from ._escape import EscapeTime, escape_time
from ._fixedpoint import FixedPoint
from ._fixedpoint_solve import symmetric_fixed_point
from ._fluctuations import diffusion_matrix
from ._initial import near_fixed_point, overlaps, random_initial, random_weights
from ._layout import StateLayout
from ._load import load
from ._model import Committee
from ._ode import default_alphas, generalization_error, integrate, rhs
from ._reduced import paper_fixed_point, reduced_generalization_error, reduced_gradient, reduced_hessian, reduced_rhs
from ._results import Status, SymphaseError
from ._simulate import SimulationResult, simulate
from ._state import Diffusion, Overlaps, Rates, ReducedDerivative, ReducedRates, State, SymmetricState, Weights
from ._sweep import SweepResult, sweep
from ._system import System
from ._trajectory import ODEResult
from ._weights import weights_from_overlaps

__version__ = "0.2.0"

__all__ = [
    "Committee", "Comparison", "Curvature", "CurvatureTrajectory", "Diffusion", "EscapeTime", "FixedPoint",
    "ODEResult", "Overlaps", "Rates", "ReducedDerivative", "ReducedRates", "SimulationResult", "State",
    "StateLayout", "Status", "SweepResult", "SymmetricState", "SymphaseError", "System", "Weights", "__version__",
    "compare", "curvature", "curvature_along", "default_alphas", "diffusion_matrix", "escape_alpha", "escape_time",
    "generalization_error", "integrate", "load", "near_fixed_point", "overlaps", "paper_fixed_point",
    "plateau_value", "random_initial", "random_weights", "reduced_generalization_error", "reduced_gradient",
    "reduced_hessian", "reduced_rhs", "rhs", "simulate", "sweep", "symmetric_fixed_point", "weights_from_overlaps",
]
