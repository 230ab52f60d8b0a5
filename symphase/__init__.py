"""symphase: statistical mechanics of online learning in soft committee machines,
with and without batch normalization.

The public names: :class:`Committee` (the model), :func:`integrate` (the
order-parameter ODEs), :func:`generalization_error`, :func:`rhs`, the result
types, the seeded starts (:func:`random_initial`,
:func:`near_fixed_point`), and the Gaussian averages in :mod:`symphase.gaussian`.
"""
from .fixedpoint import FixedPoint, symmetric_fixed_point
from .initial import near_fixed_point, random_initial
from .layout import StateLayout
from .model import Committee
from .ode import default_alphas, generalization_error, integrate, rhs
from .results import ODEResult, Status, SymphaseError
from .compare import Comparison, compare
from .simulate import SimulationResult, simulate
from .sweep import sweep

__version__ = "0.1.0"

__all__ = [
    "Committee", "Comparison", "FixedPoint", "ODEResult", "SimulationResult", "compare", "simulate", "StateLayout", "Status", "SymphaseError", "default_alphas",
    "generalization_error", "integrate", "near_fixed_point", "random_initial", "rhs", "sweep", "symmetric_fixed_point", "__version__",
]
