"""The symmetric fixed point (the plateau) and its spectra (docs/model.md §4-5).

:func:`symmetric_fixed_point` solves for the fixed point of the order-parameter
ODEs on the symmetric subspace ``R = S``, ``C = Q`` (every student has learned
the same mixture of teachers) and returns a :class:`FixedPoint` with three
spectra:

* ``jacobian_eigenvalues``: the Jacobian of the FULL ODE (every ``Q_ik``,
  ``R_in``, ``g_i``), exact to rounding by complex-step differentiation of the
  Numba kernels (forward-mode differentiation, docs/model.md §6); its largest real
  part is the escape rate ``lambda``, the plateau lasts ``(1/lambda) ln(1/eps0)``.
* ``weight_hessian_eigenvalues``: the Hessian of ``eps_g`` with respect to the
  student weights ``J`` (and the learned gains ``g``) at a weight configuration
  with ``N = K + M`` inputs realising the fixed point: the SymPy-derived
  gradient of ``eps_g`` in the field covariance (``symphase/_generated/
  eg_derivatives.py``), chained to the weights, complex-stepped once more.
* ``reduced_hessian_eigenvalues``: the paper's Hessian on ``(R, S, Q[, g])``
  (:func:`symphase.reduced_hessian`).

At ``eta = 0`` (small learning rate limit) rates are per unit ``eta``; at
``eta > 0`` they are per unit ``alpha``.
"""
from __future__ import annotations

import math
from functools import cached_property

import numpy as np
from scipy import optimize

from ._model import check_model, min_gram_eigenvalue
from ._results import Result, Status, SymphaseError
from ._system import STEP
from ._validate import check_real
from ._weight_space import realise, weight_gradient

#: Range of the BN norm ``Q_ii`` that picks a member of the fixed-point family:
#: the overlaps (up to ``norm``) and their squares stay finite in double precision.
NORM_RANGE = (1e-100, 1e100)


# -- states on the symmetric subspace ------------------------------------------
def symmetric_state(model, Q, C, R, S, g=None):
    """The flat state of a point of the symmetric subspace (docs/model.md §4.1).

    Parameters
    ----------
    model : Committee
        The model (K = M).
    Q, C, R, S : float or complex
        ``Q_ii = Q``, ``Q_ik = C`` (i != k), ``R_ii = R``, ``R_in = S`` (n != i).
    g : float or complex, optional
        ``g_i = g`` under BN (default 1); ignored for plain.

    Returns
    -------
    ndarray (model.layout.size,)
        The flat state, in the common dtype of the arguments.
    """
    K = model.K
    dt = np.result_type(Q, C, R, S, 1.0 if g is None else g)
    eye = np.eye(K)
    Qm = (C + (Q - C) * eye).astype(dt)
    Rm = (S + (R - S) * eye).astype(dt)
    gv = None if not model.has_bn else np.full(K, 1.0 if g is None else g, dtype=dt)
    return model.layout.pack(Qm, Rm, gv)


def _rate_args(eta):
    """``(eta, part)`` of the rates: the O(eta) part per unit eta at eta = 0, else the full rhs at eta."""
    return (1.0, "linear") if eta == 0 else (float(eta), "full")


def rates(model, y, eta):
    """``dy/dalpha`` at flat state ``y`` as the fixed-point analysis measures it (docs/model.md §3.5, §5.1).

    Parameters
    ----------
    model : Committee
        The model.
    y : array_like
        A flat state.
    eta : float
        0: the ``O(eta)`` part per unit ``eta`` (the small learning rate limit);
        > 0: the full right-hand side at ``eta``, per unit ``alpha``.

    Returns
    -------
    ndarray
        The rates.
    """
    e, part = _rate_args(eta)
    return model.system.rhs(y, e, part=part)


# -- the fixed point ----------------------------------------------------------------
class FixedPoint(Result):
    """A fixed point of the order-parameter ODEs with its spectra (docs/model.md §4-5).

    Returned by :func:`symmetric_fixed_point`; the spectra are computed on first
    access. Three spectra measure the plateau's stability: the Jacobian of the
    full ODE (:attr:`jacobian_eigenvalues`, whose largest real part is the escape
    rate ``lambda``; docs/model.md §5.1), the Hessian of ``eps_g`` in the weights
    (:attr:`weight_hessian_eigenvalues`, ``lambda = -eta mu_min``; docs/model.md §5.2)
    and the paper's reduced Hessian (:attr:`reduced_hessian_eigenvalues`;
    Takagi, Yoshida & Okada 2020; docs/model.md §4.4).

    Parameters
    ----------
    model : Committee
        The model.
    Q : array_like (K, K)
        Student-student overlaps at the fixed point.
    R : array_like (K, M)
        Student-teacher overlaps.
    g : array_like (K,) or None
        BN gains; None for plain.
    eta : float
        0 (small learning rate limit) or the learning rate.
    kind : {"plateau", "symmetric"}
        The plateau ``R = S``, or another symmetric fixed point.
    norm : float, optional
        The BN norm ``Q_ii`` asked for.
    residual : float, optional
        ``max |dy/dalpha|`` at the point, if already known (else computed).

    Attributes
    ----------
    model : Committee
        The model.
    Q, R, g : ndarray
        ``Q`` (K, K), ``R`` (K, M), ``g`` (K,) or None (plain).
    eta : float
        0: the small learning rate limit (rates per unit ``eta``); > 0: rates per unit ``alpha``.
    eg : float
        ``eps_g`` at the fixed point.
    norm : float or None
        The BN norm ``Q_ii`` asked for (None: the default).
    kind : str
        ``"plateau"`` (the symmetric fixed point ``R = S``) or ``"symmetric"`` (another one).
    status, message
        ``"completed"`` and the residual at which the point was accepted.

    Examples
    --------
    >>> import symphase
    >>> fp = symphase.symmetric_fixed_point(symphase.Committee(2, 2))
    >>> fp
    FixedPoint(K=2, M=2, plain, tau=1, ..., Q=0.3333333333, C=0.3333333333, R=0.4082482905, S=0.4082482905, ...)
    >>> print(f"lambda/eta = {fp.escape_rate:.4f}, min mu = {fp.weight_hessian_eigenvalues[0]:.4f}")
    lambda/eta = 0.0657, min mu = -0.0657
    >>> print(f"{fp.plateau_length(1e-3):.1f}")          # alpha*eta to grow 1e-3 to O(1)
    105.1
    """

    def __init__(self, model, Q, R, g, eta, *, kind="plateau", norm=None, residual=None):
        self.model = model
        self.Q = np.asarray(Q, dtype=float)
        self.R = np.asarray(R, dtype=float)
        self.g = None if g is None else np.asarray(g, dtype=float)
        self.eta = float(eta)
        self.kind = kind
        self.norm = norm
        self.eg = model.system.eg(self.state)
        self.status = Status.COMPLETED
        res = float(np.max(np.abs(self.residual()))) if residual is None else residual
        self.message = f"fixed point found: max |dy/dalpha| = {res:.3g}"

    def _summary(self) -> str:
        gs = "" if self.g is None else f", g={self.g[0]:.10g}"
        return (f"{self.model.describe()}, eta={self.eta:g}, Q={self.Q[0, 0]:.10g}, C={self.Q[0, -1]:.10g}, "
                f"R={self.R[0, 0]:.10g}, S={self.R[0, -1]:.10g}{gs}, eg={self.eg:.10g}")

    @property
    def state(self) -> np.ndarray:
        """The flat state of the fixed point (``model.layout``; docs/model.md §8.1).

        Returns
        -------
        ndarray (model.layout.size,)
        """
        return self.model.layout.pack(self.Q, self.R, self.g)

    @property
    def effective_learning_rate(self) -> float:
        """The effective learning rate per unit ``eta``: ``h^2 = g^2/(tau Q_ii)``; 1 for plain.

        Under BN the rates of the normalized overlaps depend on the norm only
        through ``eta h^2`` (docs/model.md §5.3); BN's escape rate is plain's times
        ``h^2`` (docs/model.md §7.1).

        Returns
        -------
        float
        """
        if not self.model.has_bn:
            return 1.0
        return float(self.g[0] ** 2 / (self.model.tau * self.Q[0, 0]))

    def residual(self) -> np.ndarray:
        """``dy/dalpha`` at the fixed point: zero up to rounding (docs/model.md §3.5).

        Returns
        -------
        ndarray (model.layout.size,)
            Per unit ``eta`` at ``eta = 0`` (the ``O(eta)`` part), per unit ``alpha`` at ``eta > 0``.
        """
        return rates(self.model, self.state, self.eta)

    # Jacobian of the full ODE
    @cached_property
    def jacobian(self) -> np.ndarray:
        """The Jacobian ``A = d(dy/dalpha)/dy`` of the full ODE at the fixed point (docs/model.md §5.1, §6).

        Exact to rounding by complex-step differentiation of the kernels
        (:meth:`symphase.System.jacobian`).

        Returns
        -------
        ndarray (n, n)
            In the flat layout (every ``Q_ik``, i <= k, ``R_in``, ``g_i``); per unit
            ``eta`` at ``eta = 0`` (the O(eta) part), per unit ``alpha`` at ``eta > 0``.
        """
        e, part = _rate_args(self.eta)
        return self.model.system.jacobian(self.state, e, part=part)

    @cached_property
    def jacobian_eigenvalues(self) -> np.ndarray:
        """Eigenvalues of :attr:`jacobian`, ascending by real part (largest last; docs/model.md §5.1).

        Returns
        -------
        ndarray (n,)
            Real when every imaginary part is at rounding level, else complex.
        """
        ev = np.linalg.eigvals(self.jacobian)
        ev = ev[np.lexsort((ev.imag, ev.real))]
        if np.all(np.abs(ev.imag) <= 1e-12 * max(1.0, np.abs(ev).max())):
            ev = ev.real
        return ev

    @property
    def escape_rate(self) -> float:
        """The escape rate ``lambda = max Re eig(A)`` of the Jacobian (docs/model.md §5.1).

        A small deviation from the plateau grows as ``eps0 exp(lambda alpha)``;
        ``lambda <= 0``: the point is stable.

        Returns
        -------
        float
            Per unit ``eta`` at ``eta = 0``, per unit ``alpha`` at ``eta > 0``.
        """
        return float(np.max(np.real(self.jacobian_eigenvalues)))

    @property
    def escape_direction(self) -> np.ndarray:
        """The direction of escape: a unit real eigenvector of the Jacobian for :attr:`escape_rate`.

        Returns
        -------
        ndarray (n,)
            In the flat layout (``model.layout.labels()`` names its entries).
        """
        ev, V = np.linalg.eig(self.jacobian)
        v = np.real(V[:, int(np.argmax(ev.real))])
        return v / np.linalg.norm(v)

    def plateau_length(self, eps0) -> float:
        """The plateau length ``(1/lambda) ln(1/eps0)``: the time to grow an asymmetry ``eps0`` to O(1).

        docs/model.md §5.1; a random start with ``N`` inputs leaves ``eps0 ~ N^(-1/2)``.

        Parameters
        ----------
        eps0 : float
            The initial distance from the plateau, in (0, 1).

        Returns
        -------
        float
            In units of ``alpha eta`` at ``eta = 0``, of ``alpha`` at ``eta > 0``; inf if
            the point is stable (``lambda <= 0``).

        Raises
        ------
        ValueError
            If ``eps0`` is not in (0, 1).
        """
        eps0 = check_real("eps0", eps0, positive=True)
        if not eps0 < 1:
            raise ValueError(f"eps0 must be in (0, 1) (a small initial asymmetry), got {eps0!r}")
        lam = self.escape_rate
        return math.inf if lam <= 0 else math.log(1.0 / eps0) / lam

    # Hessian of eps_g in weight space
    @cached_property
    def weights(self):
        """Weights that realise the fixed point with ``N = K + M`` inputs (docs/model.md §5.2).

        Returns
        -------
        J : ndarray (K, K + M)
            ``[sqrt(Q - R R^T) | R]``, so ``J J^T = Q`` and ``J B^T = R``.
        g : ndarray (K,) or None
            The gains (None for plain).
        B : ndarray (M, K + M)
            The teacher ``[0 | I_M]`` (``T = I``).
        """
        J, B = realise(self.Q, self.R)
        return J, (None if self.g is None else self.g.copy()), B

    def _wvec_split(self, v):
        K, N = self.weights[0].shape
        J = v[:K * N].reshape(K, N)
        if not self.model.has_bn:
            return J, None
        g = v[K * N:] if self.model.gain == "learned" else self.g.astype(v.dtype)
        return J, g

    @property
    def _w0(self):
        J, g, _ = self.weights
        parts = [J.ravel()]
        if self.model.learns_gain:
            parts.append(g)
        return np.concatenate(parts)

    def weight_gradient(self, v) -> np.ndarray:
        """Gradient of ``eps_g`` in the weight vector ``v = [J.ravel(), g (learned gain only)]``.

        The SymPy-derived ``d eps_g/dC`` chained to the weights
        (docs/model.md §5.2; :func:`symphase._weight_space.weight_gradient`).

        Parameters
        ----------
        v : ndarray
            Weights in the layout of :attr:`weights`, flattened; real or complex
            (complex-step differentiation).

        Returns
        -------
        ndarray
            ``d eps_g/dv``, same shape and dtype as ``v``.
        """
        J, g = self._wvec_split(v)
        dJ, dg = weight_gradient(self.model, J, g, self.weights[2])
        parts = [dJ.ravel()]
        if self.model.learns_gain:
            parts.append(dg)
        return np.concatenate(parts)

    @cached_property
    def weight_hessian(self) -> np.ndarray:
        """The Hessian of ``eps_g`` in the weights ``(J, g)`` at :attr:`weights` (docs/model.md §5.2).

        Exact to rounding: complex step on the derived gradient
        (:meth:`weight_gradient`), symmetrized.

        Returns
        -------
        ndarray (n, n)
            ``n = K (K + M)`` plus ``K`` with a learned gain.
        """
        w0 = self._w0
        n = w0.size
        H = np.empty((n, n))
        wc = w0.astype(complex)
        for j in range(n):
            wc[j] += STEP * 1j
            H[:, j] = self.weight_gradient(wc).imag / STEP
            wc[j] = w0[j]
        return 0.5 * (H + H.T)

    @cached_property
    def weight_hessian_eigenvalues(self) -> np.ndarray:
        """Eigenvalues ``mu`` of :attr:`weight_hessian`, ascending (docs/model.md §5.2).

        As ``eta -> 0`` the ODE is gradient flow, so ``lambda = -eta mu_min``.

        Returns
        -------
        ndarray (n,)
        """
        return np.linalg.eigvalsh(self.weight_hessian)

    # The paper's reduced Hessian
    @cached_property
    def reduced_hessian(self):
        """The paper's Hessian ``H = grad_Omega grad_Omega eps_g`` at this point (docs/model.md §4.4).

        ``Omega = (R, S, Q)`` (plain) or ``(R, S, Q, g)`` (BN), ``C = Q`` substituted
        before differentiating (Takagi, Yoshida & Okada 2020, §3;
        :func:`symphase.reduced_hessian`).

        Returns
        -------
        H : ndarray (3, 3) or (4, 4)
        names : tuple of str
            ``("R", "S", "Q")`` or ``("R", "S", "Q", "g")``.
        """
        from ._reduced import reduced_hessian  # lazily: symphase.reduced is optional for this module
        g = None if self.g is None else float(self.g[0])
        return reduced_hessian(self.model, float(self.R[0, 0]), float(self.R[0, -1]), float(self.Q[0, 0]), g)

    @cached_property
    def reduced_hessian_eigenvalues(self) -> np.ndarray:
        """Eigenvalues of :attr:`reduced_hessian`, ascending (the paper's Figs. 1-2; docs/model.md §4.4).

        Returns
        -------
        ndarray (3,) or (4,)
        """
        H = np.asarray(self.reduced_hessian[0], dtype=float)
        return np.linalg.eigvalsh(0.5 * (H + H.T))

    def curvature(self, N):
        """The Hessian and Fisher spectra of the weights at this fixed point, at ``N`` inputs
        (:func:`symphase.curvature`, docs/model.md §10).

        Parameters
        ----------
        N : int
            The input dimension, ``>= K + M``.

        Returns
        -------
        Curvature
        """
        from ._curvature import curvature
        return curvature(self.model, self.Q, self.R, self.g, N=N)

    @cached_property
    def others(self) -> list:
        """Other symmetric fixed points (``R != S`` or ``C != Q``) found from a grid of starts.

        E.g. the perfect student, or the ``C = Q`` point of BN with a fixed gain
        (docs/model.md §4.3). Empty for a point that is not the plateau.

        Returns
        -------
        list of FixedPoint
            Each with ``kind="symmetric"``; the grid is small, so the list need not
            be complete.
        """
        return _others(self.model, self.eta, self.norm, self) if self.kind == "plateau" else []

    def _fields(self) -> dict:
        return {"model": self.model, "eta": self.eta, "kind": self.kind, "Q": self.Q, "R": self.R, "g": self.g,
                "eg": self.eg, "escape_rate": self.escape_rate,
                "effective_learning_rate": self.effective_learning_rate,
                "jacobian_eigenvalues": self.jacobian_eigenvalues,
                "weight_hessian_eigenvalues": self.weight_hessian_eigenvalues,
                "reduced_hessian_eigenvalues": self.reduced_hessian_eigenvalues,
                "reduced_hessian_names": list(self.reduced_hessian[1])}

    def to_xarray(self):
        """The fixed point and its spectra as a labeled ``xarray.Dataset``.

        Returns
        -------
        xarray.Dataset
            The overlaps, the three spectra (the Jacobian's as real and imaginary
            parts); ``eg``, ``escape_rate``, ``effective_learning_rate``, ``eta``,
            status, message and the model as attributes.
        """
        import xarray as xr

        from ._results import model_coords
        ev = np.asarray(self.jacobian_eigenvalues, dtype=complex)
        data = {"Q": (("student", "student_k"), self.Q), "R": (("student", "teacher"), self.R),
                "jacobian_eigenvalues_real": ("jacobian_mode", ev.real),
                "jacobian_eigenvalues_imag": ("jacobian_mode", ev.imag),
                "weight_hessian_eigenvalues": ("weight_mode", self.weight_hessian_eigenvalues),
                "reduced_hessian_eigenvalues": ("reduced_mode", self.reduced_hessian_eigenvalues)}
        if self.g is not None:
            data["g"] = ("student", self.g)
        attrs = {**self.model.attrs(), "eta": self.eta, "kind": self.kind, "eg": self.eg,
                 "escape_rate": self.escape_rate, "effective_learning_rate": self.effective_learning_rate,
                 "reduced_hessian_names": ",".join(self.reduced_hessian[1]),
                 "status": str(self.status), "message": self.message}
        coords = {**model_coords(self.model), "reduced_mode": list(self.reduced_hessian[1])}
        return xr.Dataset(data, coords=coords, attrs=attrs)


def closed_form(model, norm=None):
    """The closed-form plateau at ``eta -> 0`` as ``(Q, R, g)`` scalars (docs/model.md §4.3).

    Plain: the plain point for a teacher of variance ``tau``,
    ``Q = C = 1/(K + (K-1) tau)``, ``R = S = 1/sqrt(K (K + (K-1) tau))`` (Saad & Solla
    1995 at tau = 1). BN, learned gain: the paper's ``Q* = (K+(K-1)tau)/tau``,
    ``R* = sqrt(Q*/K)``, ``g* = 1/sqrt(Q*)`` rescaled to ``Q = norm`` (R ~ sqrt(Q)).

    Parameters
    ----------
    model : Committee
        The model (K = M, T = I).
    norm : float, optional
        The BN norm ``Q_ii`` (default: the paper's ``1/g*^2``).

    Returns
    -------
    tuple or None
        ``(Q, R, g)`` with ``g`` None for plain; None for BN with a fixed gain,
        which has no closed form.
    """
    K, tau = model.K, model.tau
    D = K + (K - 1) * tau
    if not model.has_bn:
        return 1.0 / D, 1.0 / math.sqrt(K * D), None
    if model.gain == "fixed":
        return None
    Qs = D / tau
    g = 1.0 / math.sqrt(Qs)
    Q = 1.0 / g ** 2 if norm is None else norm
    return Q, math.sqrt(Qs / K) * math.sqrt(Q / Qs), g


def _check_input(model, eta, norm):
    model = check_model(model)
    eta = check_real("eta", eta, nonnegative=True)
    if model.K != model.M:
        raise ValueError(f"model: the symmetric fixed point needs K = M (a student as large as the teacher); "
                         f"got K={model.K}, M={model.M}")
    if not np.array_equal(model.T, np.eye(model.M)):
        raise ValueError("model: the symmetric fixed point needs an orthonormal teacher, T = I; got another T")
    if model.K < 2:
        raise ValueError(f"model: the symmetric phase needs K >= 2 hidden units, got K={model.K}")
    if model.bn is None and norm is not None:
        raise ValueError(f"norm fixes the free norm Q_ii of batch norm; the plain network has none (got norm={norm!r})")
    if norm is not None:
        norm = check_real("norm", norm, positive=True)
        if not NORM_RANGE[0] <= norm <= NORM_RANGE[1]:
            raise ValueError(f"norm must be a real number in [{NORM_RANGE[0]:g}, {NORM_RANGE[1]:g}] (the overlaps and "
                             f"their squares must stay finite), got {norm!r}")
    if eta > 0 and model.has_bn:
        raise ValueError(
            f"eta: with batch norm (bn={model.bn!r}, gain={model.gain!r}) there is no fixed point at eta > 0: "
            f"where dg/dalpha = 0 (or under the exact rule always) the O(eta) part of dQ_ii/dalpha vanishes and "
            f"the O(eta^2/b) part is positive, so the norm Q_ii grows (docs/model.md §5); use eta=0")
    if model.bn == "paper" and model.gain == "fixed":
        raise ValueError(
            "model: the paper's BN rule with a fixed gain has no symmetric fixed point: the effective norm "
            "g^2 = 1 is pinned, so dQ_ii/dalpha = 2 eta G_ii + O(eta^2) and dR/dalpha = eta h G_in cannot both "
            "vanish (the norm Q_ii drifts); use gain='learned' or bn='exact'")
    return model, eta, norm


def _residual_plateau(model, eta, norm):
    """Residual on the R = S, C = Q subspace, unknowns x = (Q, R[, g])."""
    lay = model.layout
    iQ, iR = lay.Q_index[0, 0], lay.R_index[0, 0]

    if not model.has_bn:
        def f(x):
            out = rates(model, symmetric_state(model, x[0], x[0], x[1], x[1]), eta)
            return np.array([out[iQ], out[iR]])
        return f
    ig = lay.g_index[0]
    if model.gain == "learned":
        def f(x):
            Q, R, g = x
            out = rates(model, symmetric_state(model, Q, Q, R, R, g), eta)
            return np.array([out[iR], out[ig], (Q * g * g - 1.0) if norm is None else (Q - norm)])
        return f
    raise AssertionError("fixed gain: see _fixed_gain_plateau")


def _newton(f, x0, tol=1e-15, maxiter=50):
    """Root polish with scipy's hybrid method, then Newton steps on a complex-step Jacobian."""
    sol = optimize.root(f, np.asarray(x0, dtype=float), method="hybr", options={"xtol": 1e-15})
    x = sol.x
    for _ in range(maxiter):
        r = f(x)
        n = x.size
        Jm = np.empty((n, n))
        for j in range(n):
            xc = x.astype(complex)
            xc[j] += STEP * 1j
            Jm[:, j] = f(xc).imag / STEP
        try:
            dx = np.linalg.solve(Jm, -r)
        except np.linalg.LinAlgError:
            break
        x = x + dx
        if np.max(np.abs(dx)) <= tol * max(1.0, np.max(np.abs(x))):
            break
    return x


def _others(model, eta, norm, plateau):
    """Symmetric fixed points off R = S, C = Q, from a small grid of starts on (Q, C, R, S[, g])."""
    lay = model.layout
    iQ, iC = lay.Q_index[0, 0], lay.Q_index[0, 1]
    iR, iS = lay.R_index[0, 0], lay.R_index[0, 1]
    bn = model.has_bn
    learned = bn and model.gain == "learned"

    def unpack(x):
        g = x[4] if learned else 1.0
        return x[0], x[1], x[2], x[3], g

    def f(x):
        Q, C, R, S, g = unpack(x)
        out = rates(model, symmetric_state(model, Q, C, R, S, g if bn else None), eta)
        if not bn:
            return np.array([out[iQ], out[iC], out[iR], out[iS]])
        nrm = (Q * g * g - 1.0) if (norm is None and learned) else (Q - (1.0 if norm is None else norm))
        res = [out[iC], out[iR], out[iS], nrm]
        if learned:
            res.append(out[lay.g_index[0]])
        return np.array(res)

    Q0 = plateau.Q[0, 0]
    g0 = 1.0 if plateau.g is None else plateau.g[0]
    starts = []
    for r in (1.0, 0.7, 0.4):
        for s in (0.0, 0.2):
            R = r * math.sqrt(Q0) if bn else r
            S = s * math.sqrt(Q0) if bn else s
            Qs = Q0 if bn else r * r + (model.K - 1) * s * s + 0.05
            Cs = 2 * r * s * Qs / max(1e-9, r * r + s * s) * 0.5
            x = [Qs, Cs, R, S] + ([g0] if learned else [])
            starts.append(x)
    # students (nearly) coinciding, overlapping all teachers equally
    r = math.sqrt(Q0 / (model.tau * model.K)) if bn else 1 / math.sqrt(model.K)
    Qs = Q0 if bn else 1.0 / model.K
    starts.append([Qs, Qs * (1 - 1e-3), r, r] + ([g0] if learned else []))
    found = []
    for x0 in starts:
        try:
            with np.errstate(all="ignore"):
                x = _newton(f, x0)
                r = f(x)
        except (ValueError, FloatingPointError, np.linalg.LinAlgError, SymphaseError):
            continue
        if not np.all(np.isfinite(x)) or np.max(np.abs(r)) > 1e-11:
            continue
        Q, C, R, S, g = unpack(x)
        if np.max(np.abs(symmetric_state(model, Q, C, R, S, g if bn else None) - plateau.state)) < 1e-5 * max(1.0, Q):
            continue  # the plateau itself
        y = symmetric_state(model, Q, C, R, S, g if bn else None)
        Qm, Rm, gm = lay.unpack(y)
        if min_gram_eigenvalue(Qm, Rm, model.T) < -1e-10 or (bn and Q <= 0):
            continue
        if any(np.allclose(y, o.state, atol=1e-8) for o in found):
            continue
        fp = FixedPoint(model, Qm, Rm, gm, eta, kind="symmetric")
        if np.max(np.abs(fp.residual())) < 1e-11 * max(1.0, float(np.max(np.abs(y)))):
            found.append(fp)
    return found


def _fixed_gain_plateau(model, eta, norm):
    """BN with a fixed gain g = 1: the plateau reached from small random weights has
    R = S but C < Q (the effective norm g^2 = 1 is pinned, the students cannot
    coincide at the effective plateau of the learned gain). Unknowns (Q, C, R)."""
    K = model.K
    lay = model.layout
    iC, iR = lay.Q_index[0, 1], lay.R_index[0, 0]
    Qn = 1.0 if norm is None else norm

    def f(x):
        out = rates(model, symmetric_state(model, x[0], x[1], x[2], x[2], 1.0), eta)
        return np.array([out[iC], out[iR], x[0] - Qn])

    best = None
    for c0 in (0.0, 0.05, 0.2, 0.4, 0.6, 0.8):
        for r0 in (0.7, 0.5, 0.9, 0.3):
            x0 = [Qn, c0 * Qn, r0 * math.sqrt(Qn / K)]
            with np.errstate(all="ignore"):
                try:
                    x = _newton(f, x0)
                    r = f(x)
                except (ValueError, np.linalg.LinAlgError):
                    continue
            if np.all(np.isfinite(x)) and np.max(np.abs(r)) < 1e-11 and x[1] < x[0] * (1 - 1e-6) and x[2] > 0:
                best = x
                break
        if best is not None:
            break
    if best is None:
        raise SymphaseError(f"model: no symmetric plateau (R = S, C < Q) found for {model.describe()} at eta={eta:g}")
    y = symmetric_state(model, best[0], best[1], best[2], best[2], 1.0)
    Qm, Rm, gm = lay.unpack(y)
    return _finish(model, eta, norm, Qm, Rm, gm)


def symmetric_fixed_point(model, eta=0.0, *, norm=None) -> FixedPoint:
    """The symmetric fixed point (the plateau) ``R = S``, ``C = Q`` of the order-parameter ODEs.

    Plain at ``eta -> 0``: ``Q = C = 1/D``, ``R = S = 1/sqrt(K D)``, ``D = K + (K-1) tau``
    (Saad & Solla 1995 at tau = 1: ``Q = 1/(2K-1)``, ``R = 1/sqrt(K(2K-1))``); BN with a
    learned gain: ``Q* = D/tau``, ``R* = sqrt(D/(tau K))``, ``g* = sqrt(tau/D)`` (Takagi,
    Yoshida & Okada 2020, §3); docs/model.md §4.3.

    Solved on the symmetric subspace to ~1e-14, from the closed form where one
    exists, and checked to be a fixed point of the full ODE. Under BN the fixed
    points form a family in the norm ``Q_ii``; ``norm`` picks its member. With a
    fixed gain the plateau reached from small random weights has ``R = S`` but
    ``C < Q`` (the effective norm is pinned at 1). ``.others`` lists further
    symmetric fixed points (e.g. the perfect student).

    Parameters
    ----------
    model : Committee
        The model: ``K = M >= 2``, ``T = I``.
    eta : float
        ``0`` (default): the small learning rate limit (the O(eta) part of the
        ODEs; rates and spectra per unit ``eta``). ``eta > 0`` keeps the
        ``eta^2/b`` terms (plain only: under BN the norm grows at O(eta^2/b), so
        no fixed point exists); the point is followed from ``eta = 0`` by continuation.
    norm : float, optional
        BN only: the norm ``Q_ii`` of the member of the family, in [1e-100, 1e100].
        Default: the paper's ``1/g^2`` with a learned gain, ``Q_ii = 1`` with a fixed
        gain ``g = 1``.

    Returns
    -------
    FixedPoint
        The plateau (``kind="plateau"``) with its spectra.

    Raises
    ------
    ValueError
        If ``K != M``, ``T != I``, ``K < 2``, ``eta < 0``, ``norm`` is given for a plain
        model or out of range, ``eta > 0`` under BN, or the model is BN with the
        paper's rule and a fixed gain (no symmetric fixed point).
    TypeError
        If ``model`` is not a :class:`~symphase.Committee`.
    SymphaseError
        If no fixed point is found (e.g. at ``eta > 0`` beyond the end of the
        branch that starts at ``eta = 0``).

    Examples
    --------
    >>> import symphase
    >>> fp = symphase.symmetric_fixed_point(symphase.Committee(2, 2))
    >>> print(f"Q = {fp.Q[0, 0]:.6f} = 1/3, eps_g = {fp.eg:.6f}")
    Q = 0.333333 = 1/3, eps_g = 0.011611
    >>> bn = symphase.symmetric_fixed_point(symphase.Committee(2, 2, bn="exact"))
    >>> print(f"h^2 = {bn.effective_learning_rate:.4f}, ratio = {bn.escape_rate / fp.escape_rate:.6f}")
    h^2 = 0.1111, ratio = 0.111111
    """
    model, eta, norm = _check_input(model, eta, norm)
    if model.has_bn and model.gain == "fixed":
        return _fixed_gain_plateau(model, eta, norm)
    f = _residual_plateau(model, eta, norm)
    cf = closed_form(model, norm)
    if not model.has_bn:
        x0 = [cf[0], cf[1]]
        if eta > 0:  # continue from eta = 0 in small steps (the eta^2 terms move the point)
            x = np.array(x0)
            f0 = _residual_plateau(model, 0.0, None)
            x = _newton(f0, x)
            for e in np.linspace(0, eta, min(200, max(9, int(math.ceil(eta / 0.005)) + 1)))[1:]:
                fe = _residual_plateau(model, float(e), norm)
                with np.errstate(all="ignore"):
                    x = _newton(fe, x)
                    if not np.max(np.abs(fe(x))) < 1e-11:  # the branch ends here
                        break
            x0 = x
    else:
        x0 = list(cf)
    with np.errstate(all="ignore"):
        x = _newton(f, x0)
        r = f(x)
    if not (np.all(np.isfinite(x)) and np.max(np.abs(r)) < 1e-11):
        who = "eta" if eta > 0 else "model"
        raise SymphaseError(f"{who}: no symmetric fixed point with R = S, C = Q found for {model.describe()} at "
                         f"eta={eta:g} (residual {np.max(np.abs(r)):.3g}; at eta > 0 the branch from eta -> 0 "
                         f"may end below this eta)")
    if not model.has_bn:
        Q, R, g = x[0], x[1], None
    else:
        Q, R, g = x
    y = symmetric_state(model, Q, Q, R, R, g)
    Qm, Rm, gm = model.layout.unpack(y)
    return _finish(model, eta, norm, Qm, Rm, gm)


def _finish(model, eta, norm, Qm, Rm, gm):
    y = model.layout.pack(Qm, Rm, gm)
    if min_gram_eigenvalue(Qm, Rm, model.T) < -1e-10:
        raise SymphaseError(f"eta: the symmetric fixed point of {model.describe()} at eta={eta:g} is not a valid state "
                         f"(Q, R are no Gram matrix of real weights): the branch from eta -> 0 ends below this eta")
    fp = FixedPoint(model, Qm, Rm, gm, eta, norm=norm)
    res = fp.residual()
    scale = max(1.0, float(np.max(np.abs(y))))
    if not np.max(np.abs(res)) < 1e-12 * scale:
        raise SymphaseError(f"model: the symmetric point of {model.describe()} at eta={eta:g} is not a fixed point "
                         f"of the full ODE (max |dy/dalpha| = {np.max(np.abs(res)):.3g})")
    return fp
