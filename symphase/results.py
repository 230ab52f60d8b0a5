"""Results: a status and a message with every trajectory; failures are results.

``Status`` follows scipy's ``OdeResult.status`` / diffrax's ``RESULTS``: a run
that stops early keeps what it computed and says why; ``raise_for_status()``
turns a failure into an exception on request.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from .model import Committee


class Status(str, enum.Enum):
    """Why a run ended. Compares equal to its string value (``r.status == "completed"``)."""

    COMPLETED = "completed"    # reached alpha_max
    CONVERGED = "converged"    # eps_g fell below eg_tol: learned, stopped early
    INVALID = "invalid"        # overlaps stopped being a positive semi-definite Gram matrix
    DIVERGED = "diverged"      # non-finite or blown-up overlaps (eta too large)
    STEP_SIZE = "step_size"    # adaptive step fell below its minimum / too many steps
    INTERRUPTED = "interrupted"  # KeyboardInterrupt: partial result kept

    @property
    def success(self) -> bool:
        return self in (Status.COMPLETED, Status.CONVERGED)

    def __str__(self):
        return self.value


class SymphaseError(RuntimeError):
    """Raised by ``raise_for_status()`` on a failed run; ``.result`` holds the partial result."""

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


@dataclass
class ODEResult:
    """A trajectory of the order parameters.

    Arrays: ``alpha`` (n,), ``Q`` (n, K, K), ``R`` (n, K, M), ``g`` (n, K) or
    None, ``eg`` (n,). Simulation results carry a leading seed axis on all but
    ``alpha``. ``status``/``message`` say how the run ended; the arrays hold
    everything computed up to then.
    """

    model: Committee
    eta: float
    alpha: np.ndarray
    Q: np.ndarray
    R: np.ndarray
    g: np.ndarray | None
    eg: np.ndarray
    status: Status
    message: str
    info: dict = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return Status(self.status).success

    def raise_for_status(self) -> "ODEResult":
        """Return self if the run succeeded, else raise :class:`SymphaseError`."""
        if not self.success:
            raise SymphaseError(f"{self.status}: {self.message}", self)
        return self

    def __repr__(self):
        return (f"{type(self).__name__}({self.model.describe()}, eta={self.eta:g}, "
                f"n={len(self.alpha)}, alpha=[{self.alpha[0]:g}, {self.alpha[-1]:g}], "
                f"status={str(self.status)!r}, message={self.message!r})")

    def to_xarray(self):
        """A labeled ``xarray.Dataset`` (saves with ``.to_netcdf(path)``)."""
        import xarray as xr

        lead = ("seed",) if self.eg.ndim == 2 else ()
        m = self.model
        data = {
            "Q": (lead + ("alpha", "student", "student_k"), self.Q,
                  {"long_name": "student-student overlaps Q_ik = J_i.J_k"}),
            "R": (lead + ("alpha", "student", "teacher"), self.R,
                  {"long_name": "student-teacher overlaps R_in = J_i.B_n"}),
            "eg": (lead + ("alpha",), self.eg, {"long_name": "generalization error eps_g"}),
            "T": (("teacher", "teacher_m"), np.asarray(m.T), {"long_name": "teacher overlaps T_nm"}),
        }
        if self.g is not None:
            data["g"] = (lead + ("alpha", "student"), self.g, {"long_name": "batch-norm gains g_i"})
        attrs = {
            "K": m.K, "M": m.M, "bn": m.bn or "none", "gain": m.gain, "tau": m.tau,
            "batch": m.batch, "noise": m.noise, "eta": self.eta,
            "status": str(self.status), "message": self.message,
        }
        attrs.update({k: v for k, v in self.info.items()
                      if isinstance(v, (int, float, str, np.integer, np.floating)) and not isinstance(v, bool)})
        coords = {"alpha": self.alpha, "student": np.arange(m.K), "student_k": np.arange(m.K),
                  "teacher": np.arange(m.M), "teacher_m": np.arange(m.M)}
        if lead:
            coords["seed"] = np.asarray(self.info.get("seeds", np.arange(self.eg.shape[0])))
        return xr.Dataset(data, coords=coords, attrs=attrs)
