"""Curvature at any N: the Hessian and the Fisher information of the weights, from the order parameters.

The loss ``eps_g`` and the student's output statistics depend on the weights
only through the overlaps, and the inputs are Gaussian and isotropic. So at
any ``N >= K + M`` the weight space splits into ``span(J, B)`` (where the
curvature has at most ``K (K + M)`` outlying eigenvalues) and its orthogonal
complement, on which every matrix here acts as a ``K x K`` block times the
identity (the *bulk*, each eigenvalue repeated ``N - rank`` times)
(docs/model.md §10). Both parts are exact functions of ``(Q, R, T, g)``:

* realise the overlaps with ``N1 = K + M + 1`` inputs (one input orthogonal to
  every weight vector; ``N1 = K + M`` when ``N = K + M``);
* the Hessian ``H = grad^2 eps_g`` is the complex-step derivative of the
  SymPy-derived gradient of ``eps_g`` (``derivations/eg_derivatives.py``,
  chained to the weights by :func:`symphase._weight_space.weight_gradient`);
* the Fisher information (Gauss-Newton) matrix ``F = <grad s grad s^T>`` is the
  same Hessian for a teacher equal to the student itself: at ``w = w0``,
  ``grad^2 (1/2)<(s_w0 - s_w)^2> = <grad s grad s^T>`` because the residual
  vanishes for every input. The teacher ``B' = h J`` (the student's effective
  weights) makes ``s_w0`` a committee of the same form;
* the spectrum at ``N`` is that of the ``N1`` matrices plus the bulk block's
  eigenvalues repeated ``N - N1`` more times.

The cost does not depend on ``N``. Parameters: the first-layer weights ``J``
(``K N``) and, under BN with a learned gain, the gains ``g``; the network is
the true BN network (population statistics), so ``H`` is the same under both
BN rules.
"""
from __future__ import annotations

import math

import numpy as np

from ._generated.fisher import pair_averages
from ._model import STEP, check_committee, check_model
from ._results import Result, Status, alpha_span, model_coords
from ._state import committee_state, old_forms, split_state, state_names
from ._validate import FIELD_VARIANCE_MAX, NORM_RANGE, check_dimension
from ._weight_space import weight_gradient

KINDS = ("hessian", "fisher")
#: Two eigenvalues within this fraction of the larger of them count as equal (one value of the
#: compact spectrum).
REL_TOL = 1e-9
#: Double precision's unit roundoff: an eigensolver resolves eigenvalues to about ``n EPS max|mu|``
#: (n the matrix dimension); eigenvalues below that floor count as zero (the null space).
EPS = float(np.finfo(float).eps)
#: The relative precision the smallest non-null eigenvalue must keep, ``EPS * condition``, for the
#: spectrum to be reported as ``completed`` (at least 4 significant digits; else ``failed``).
PRECISION = 1e-4
#: The spread of the Gram matrix's diagonal above which :func:`realise_any` equilibrates it.
EQUILIBRATE = 1e3


def realise_any(model, Q, R):
    """Weights ``(J, B)`` with ``N = K + M`` inputs and ``J J^T = Q``, ``J B^T = R``, ``B B^T = model.T``.

    A square root of the joint Gram matrix ``G = [[T, R^T], [R, Q]]`` (rows: teachers, then
    students). Where the diagonal of ``G`` spans more than :data:`EQUILIBRATE` (e.g. a BN norm
    ``Q_ii = 1e10`` against ``T_nn = 1``), the root is taken of ``D^-1 G D^-1`` with ``D`` the
    powers of two nearest ``sqrt(G_ii)`` (exact scaling) and scaled back: otherwise the eigensolver's
    absolute error ``eps max G_ii`` swamps the small rows (the teachers came out 6e-6 wrong at
    ``Q_ii = 1e10``). Below that spread the root is unchanged (its error is ``< EQUILIBRATE eps``).
    """
    M = model.M
    G = np.block([[model.T, R.T], [R, Q]])
    G = 0.5 * (G + G.T)
    dg = np.diag(G)
    pos = dg[dg > 0]
    d = np.ones(G.shape[0])
    if pos.size and np.max(pos) > EQUILIBRATE * np.min(pos):
        d = np.where(dg > 0, np.exp2(np.round(0.5 * np.log2(np.where(dg > 0, dg, 1.0)))), 1.0)
        G = G / d[:, None] / d[None, :]
    lam, V = np.linalg.eigh(G)
    # eigenvalues that are zero up to rounding (e.g. coinciding students on the plateau) are set to 0:
    # their square roots (~1e-8) would otherwise split the zero modes at O(1e-8)
    lam[lam < 1e-13 * max(1.0, float(np.max(np.abs(G))))] = 0.0
    W = d[:, None] * (V * np.sqrt(lam))
    return W[M:], W[:M]


def _hessian(grad, w0):
    """Symmetrised complex-step Jacobian of ``grad`` at ``w0`` (exact to rounding)."""
    n = w0.size
    H = np.empty((n, n))
    wc = w0.astype(complex)
    for j in range(n):
        wc[j] += STEP * 1j
        H[:, j] = grad(wc).imag / STEP
        wc[j] = w0[j]
    return 0.5 * (H + H.T)


def _compact(values, mult, floor=0.0):
    """Merge equal eigenvalues into ``(values, multiplicities)``: two are equal within ``REL_TOL``
    of the larger of them, or both within the noise ``floor`` (absolute) of zero.

    The tolerance is relative: a spectrum whose eigenvalues are all small (e.g. ``1e-10`` at
    ``Q = 1e10 I``) keeps them apart (an absolute ``1e-9`` merged them all into one).
    """
    order = np.argsort(values, kind="stable")
    v, m = np.asarray(values, dtype=float)[order], np.asarray(mult, dtype=np.int64)[order]
    out_v, out_m = [], []
    for x, k in zip(v, m):
        if k == 0:
            continue
        if out_v and (abs(x - out_v[-1]) <= REL_TOL * max(abs(x), abs(out_v[-1]))
                      or max(abs(x), abs(out_v[-1])) <= floor):
            tot = out_m[-1] + k
            out_v[-1] = (out_v[-1] * out_m[-1] + x * k) / tot
            out_m[-1] = tot
        else:
            out_v.append(float(x))
            out_m.append(int(k))
    return np.array(out_v), np.array(out_m, dtype=np.int64)


def fisher_closed_form(model, J, g):
    """The Fisher information ``F = <grad s grad s^T>`` of realised weights ``J`` (K, N1), in closed
    form: Stein's lemma twice and the SymPy-derived pair averages (``derivations/fisher.py``,
    derivations/DERIVATION.md §10). Parameter order ``[J row by row, g (learned gain)]``.

    ``F_{J_i J_k} = h_i h_k P_i (tau E11 I + tau^2 [h_i^2 E31 J_i J_i^T + h_i h_k E22 (J_i J_k^T + J_k J_i^T)
    + h_k^2 E13 J_k J_k^T]) P_k`` with ``P_i = I - e J_i J_i^T/Q_ii`` (``e = 1`` under BN); the gain
    blocks from ``<f u_i u_k>`` and ``<f u_k xi>``, ``f = phi'(u_i) phi'(u_k)``.
    """

    K, N1 = J.shape
    tau = model.tau
    Q = J @ J.T
    gv = np.ones(K) if g is None else np.asarray(g, dtype=float)
    h = gv / np.sqrt(tau * np.diag(Q)) if model.has_bn else np.ones(K)
    C = tau * h[:, None] * h[None, :] * Q
    eye = np.eye(N1)
    P = [eye - np.outer(J[i], J[i]) / Q[i, i] if model.has_bn else eye for i in range(K)]
    learned = model.learns_gain
    n = K * N1 + (K if learned else 0)
    F = np.zeros((n, n))
    for i in range(K):
        for k in range(K):
            e11, e31, e22, e13 = pair_averages(C[i, i], C[k, k], C[i, k])
            M = tau * e11 * eye + tau**2 * (h[i]**2 * e31 * np.outer(J[i], J[i])
                                            + h[i] * h[k] * e22 * (np.outer(J[i], J[k]) + np.outer(J[k], J[i]))
                                            + h[k]**2 * e13 * np.outer(J[k], J[k]))
            F[i * N1:(i + 1) * N1, k * N1:(k + 1) * N1] = h[i] * h[k] * P[i] @ M @ P[k]
            if learned:
                gi, gk = K * N1 + i, K * N1 + k
                F[gi, gk] = (C[i, k] * e11 + C[i, i] * C[k, i] * e31 + (C[i, i] * C[k, k] + C[i, k] ** 2) * e22
                             + C[i, k] * C[k, k] * e13) / (gv[i] * gv[k])
                v = tau * (h[i] * J[i] * (C[k, i] * e31 + C[k, k] * e22)
                           + h[k] * J[k] * (C[k, i] * e22 + C[k, k] * e13 + e11))
                col = h[i] * (P[i] @ v) / gv[k]
                F[i * N1:(i + 1) * N1, gk] = col
                F[gk, i * N1:(i + 1) * N1] = col
    return F


class Curvature(Result):
    """The Hessian and the Fisher information of the weights at one state, at any N (docs/model.md §10).

    Returned by :func:`curvature`. Matrices act on the parameter vector
    ``[J (K N, row by row), g (K, BN with a learned gain)]``; each spectrum is
    ``K N (+ K)`` eigenvalues: outliers from ``span(J, B)`` and a bulk of ``K``
    values, each repeated ``N - rank`` times.

    Attributes
    ----------
    model : Committee
    Q, R, g : ndarray
        The state.
    N : int
        The input dimension.
    n_params : int
        ``K N`` plus ``K`` under BN with a learned gain.
    bulk : dict
        ``{"hessian": (K,), "fisher": (K,)}``: the bulk eigenvalues (ascending).
    status, message
        ``"completed"`` and what was computed; ``"failed"`` where double precision cannot resolve
        the spectrum: its smallest non-null eigenvalue keeps fewer than 4 significant digits
        (``EPS * condition > PRECISION``, e.g. a BN norm ``Q_ii = 1e12`` with a learned gain, whose
        block is ``O(1)`` while the weights' is ``O(1/Q_ii)``). The spectra are kept.
    """

    def __init__(self, model, Q, R, g, N, parts, J1):
        self.model, self.Q, self.R, self.g, self.N = model, Q, R, g, N
        self._J1 = J1      # the realised student weights at N1 inputs
        self._parts = parts  # kind -> (outlier eigenvalues, bulk eigenvalues, bulk multiplicity, matrix)
        self.n_params = model.K * N + (model.K if model.learns_gain else 0)
        self.bulk = {k: p[1] for k, p in parts.items()}
        self.status = Status.COMPLETED
        self.message = f"Hessian and Fisher spectra of {self.n_params} parameters at N = {N}"
        lost = [f"{k} (condition {c:.3g})" for k in KINDS
                if EPS * (c := self.stats(k)["condition"]) > PRECISION]
        if lost:
            self.status = Status.FAILED
            self.message = (f"precision lost: the smallest eigenvalues of the {' and of the '.join(lost)} keep "
                            f"fewer than 4 significant digits in double precision (condition > {PRECISION / EPS:.2g}) "
                            f"({self.n_params} parameters at N = {N})")

    # -- spectra ---------------------------------------------------------------------
    def spectrum(self, kind: str = "hessian"):
        """The distinct eigenvalues of ``kind`` (``"hessian"`` or ``"fisher"``) and their multiplicities.

        Returns
        -------
        values : ndarray
            Ascending; eigenvalues equal within ``REL_TOL`` (relative) are merged, and so are those
            within the eigensolver's noise floor of zero (``n EPS max|mu|``, n the matrix dimension).
        multiplicities : ndarray of int
            They sum to :attr:`n_params`.
        """
        out, bulk, mult, _ = self._part(kind)
        return _compact(np.concatenate([out, bulk]), np.concatenate([np.ones(out.size, np.int64),
                                                                      np.full(bulk.size, mult, np.int64)]),
                        self._floor(kind))

    def _floor(self, kind):
        """The eigensolver's absolute noise floor of ``kind``: ``n EPS max|mu|`` (n the matrix dimension)."""
        out, bulk, _, A = self._part(kind)
        scale = max(float(np.max(np.abs(out))) if out.size else 0.0, float(np.max(np.abs(bulk))) if bulk.size else 0.0)
        return A.shape[0] * EPS * scale

    def eigenvalues(self, kind: str = "hessian") -> np.ndarray:
        """All ``n_params`` eigenvalues of ``kind``, ascending, the bulk repeated to its multiplicity."""
        out, bulk, mult, _ = self._part(kind)
        return np.sort(np.concatenate([out, np.repeat(bulk, mult)]))

    @property
    def hessian_eigenvalues(self) -> np.ndarray:
        """All eigenvalues of ``H = grad^2 eps_g``, ascending (see :meth:`eigenvalues`)."""
        return self.eigenvalues("hessian")

    @property
    def fisher_eigenvalues(self) -> np.ndarray:
        """All eigenvalues of ``F = <grad s grad s^T>``, ascending (see :meth:`eigenvalues`)."""
        return self.eigenvalues("fisher")

    def _part(self, kind):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}; got {kind!r}")
        return self._parts[kind]

    def stats(self, kind: str = "hessian") -> dict:
        """Spectral statistics of ``kind``, as in the FIM literature, computed from the compact spectrum.

        Returns
        -------
        dict
            ``mean`` (trace / n_params), ``second_moment`` (mean of the squares), ``max``, ``min``,
            ``condition`` (the largest over the smallest absolute eigenvalue of the non-null spectrum), ``null_dim``
            (eigenvalues within the eigensolver's noise floor ``n EPS max|mu|`` of zero) and ``scale_invariant``
            (how many null directions BN's scale invariance ``J_i -> c J_i`` gives: the Fisher matrix
            always has these K under BN, the Hessian only where the gradient vanishes, since
            ``H J_i = -grad_i eps_g`` by homogeneity; 0 for plain).
        """
        v, m = self.spectrum(kind)
        scale = float(np.max(np.abs(v))) if v.size else 0.0
        null = np.abs(v) <= self._floor(kind)
        nz = ~null
        cond = float(np.max(np.abs(v[nz])) / np.min(np.abs(v[nz]))) if np.any(nz) else math.nan
        return {"mean": float(np.sum(v * m) / self.n_params), "second_moment": float(np.sum(v * v * m) / self.n_params),
                "max": float(v[-1]), "min": float(v[0]), "condition": cond, "null_dim": int(np.sum(m[null])),
                "scale_invariant": self._scale_invariant(kind, scale)}

    def _scale_invariant(self, kind, scale):
        if not self.model.has_bn:
            return 0
        A = self.matrix(kind)
        K, N1 = self._J1.shape
        count = 0
        for i in range(K):
            v = np.zeros(A.shape[0])
            v[i * N1:(i + 1) * N1] = self._J1[i]
            count += bool(np.linalg.norm(A @ v) <= REL_TOL * max(scale, 1e-300) * np.linalg.norm(v))
        return count

    def matrix(self, kind: str = "hessian") -> np.ndarray:
        """The matrix of ``kind`` at ``N1 = K + M + 1`` inputs (``K + M`` when ``N = K + M``), in the
        parameter order ``[J (K, N1) row by row, g]``: the outliers and one copy of the bulk."""
        return self._part(kind)[3]

    def block(self, kind: str, layer: str) -> np.ndarray:
        """Eigenvalues (ascending, at ``N1``) of the layer-wise block ``"J"`` (first-layer weights) or
        ``"g"`` (BN gains, learned gain only) of ``kind``."""
        A = self.matrix(kind)
        nJ = self.model.K * (A.shape[0] // self.model.K if not self.model.learns_gain
                             else (A.shape[0] - self.model.K) // self.model.K)
        if layer == "J":
            return np.linalg.eigvalsh(A[:nJ, :nJ])
        if layer == "g":
            if not self.model.learns_gain:
                raise ValueError("layer 'g' exists only for batch norm with a learned gain")
            return np.linalg.eigvalsh(A[nJ:, nJ:])
        raise ValueError(f"layer must be 'J' or 'g', got {layer!r}")

    # -- the protocol -------------------------------------------------------------------
    def _summary(self) -> str:
        h, f = self.stats("hessian"), self.stats("fisher")
        return (f"{self.model.describe()}, N={self.N}, hessian [{h['min']:.4g}, {h['max']:.4g}], "
                f"fisher max {f['max']:.4g}")

    def _fields(self) -> dict:
        out = {"model": self.model, "N": self.N, "Q": self.Q, "R": self.R, "g": self.g, "n_params": self.n_params}
        for k in KINDS:
            v, m = self.spectrum(k)
            out[k] = {"values": v, "multiplicities": m, "bulk": self.bulk[k], "stats": self.stats(k)}
        return out

    def to_xarray(self):
        """A labeled ``xarray.Dataset``: each kind's compact spectrum (values, multiplicities) and
        bulk, the state, and the statistics as attributes."""
        import xarray as xr

        data = {"Q": (("student", "student_k"), self.Q), "R": (("student", "teacher"), self.R)}
        if self.g is not None:
            data["g"] = ("student", self.g)
        attrs = {**self.model.attrs(), "N": self.N, "n_params": self.n_params, "status": str(self.status),
                 "message": self.message}
        for k in KINDS:
            v, m = self.spectrum(k)
            data[f"{k}_values"] = (f"{k}_mode", v)
            data[f"{k}_multiplicity"] = (f"{k}_mode", m)
            data[f"{k}_bulk"] = ("student_mode", self.bulk[k])
            attrs.update({f"{k}_{s}": val for s, val in self.stats(k).items()})
            ev, _, mult, A = self._parts[k]  # what symphase.load needs to rebuild it: the spectrum and matrix at N1
            data[f"{k}_eigenvalues"], data[f"{k}_matrix"] = ("param", ev), (("param", "param_k"), A)
            attrs[f"{k}_bulk_multiplicity"] = mult
        data["J1"] = (("student", "input"), self._J1)
        return xr.Dataset(data, coords=model_coords(self.model), attrs={**attrs, **self._identity()})


@old_forms(split_state("curvature"))
def curvature(model, state, *, N) -> Curvature:
    """The Hessian ``H = grad^2 eps_g`` and the Fisher information ``F = <grad s grad s^T>`` of the
    weights at one state, exactly, at any ``N`` (docs/model.md §10).

    Parameters
    ----------
    model : Committee
    state : State, tuple (Q, R[, g]) or FixedPoint
        The state (:class:`symphase.State`): ``Q`` (K, K), ``R`` (K, M) (with ``model.T`` a positive
        semi-definite Gram matrix), ``g`` (K,) under BN (default ones); the committee machine's
        second layer is ones (``v`` None).
    N : int
        The input dimension, ``K + M <= N <= 2^53``.

    Returns
    -------
    Curvature
        Spectra (all eigenvalues, or compact with multiplicities), statistics, layer-wise blocks.
        Its status is ``"failed"`` where double precision cannot resolve the spectrum (see
        :class:`Curvature`).

    Raises
    ------
    ValueError
        ``N`` out of range, overlaps that are no Gram matrix, ``g`` without BN, a field variance
        ``tau h_i^2 Q_ii`` (plain: ``tau Q_ii``, naming ``Q``; BN: ``g_i^2``, naming ``g``) above
        ``1e12``, a BN norm ``Q_ii`` outside ``[1e-100, 1e100]``.
    TypeError
        The old form ``curvature(model, Q, R, g, N=)``, naming ``curvature(model, (Q, R, g), N=)``.

    Examples
    --------
    >>> model = symphase.Committee(2, 2)
    >>> c = symphase.curvature(model, (0.5 * np.eye(2), 0.5 * np.eye(2)), N=1000)
    >>> c.n_params, int(c.spectrum("fisher")[1].sum())
    (2000, 2000)
    """
    model = check_committee(check_model(model), 'curvature (docs/model.md §10)')
    N = check_dimension("N", N, minimum=model.K + model.M)
    state = committee_state(model, state, "state")
    y = model.system.state(*state, names=state_names("state"))
    Q, R, g = model.layout.unpack(y)
    problem = _out_of_range(model, Q, g)
    if problem:
        raise ValueError(problem)
    return _curvature(model, Q, R, g, N)


def _out_of_range(model, Q, g):
    """Why the state ``(Q, g)`` is outside the range where the curvature is computed, or ``""``.

    The students' field variances ``tau h_i^2 Q_ii`` must be at most ``FIELD_VARIANCE_MAX``
    (plain: ``tau Q_ii``; BN: ``g_i^2``) and, under BN, the norms ``Q_ii`` within ``NORM_RANGE``.
    """
    q = np.diag(Q)
    if model.has_bn:
        if not np.all((q >= NORM_RANGE[0]) & (q <= NORM_RANGE[1])):
            return (f"Q: under batch norm Q_ii must lie in [{NORM_RANGE[0]:g}, {NORM_RANGE[1]:g}]; "
                    f"got diag {q.tolist()}")
        gv = np.ones(model.K) if g is None else np.asarray(g, dtype=float)
        if np.any(gv**2 > FIELD_VARIANCE_MAX):
            return (f"g: the field variance g_i^2 must be <= {FIELD_VARIANCE_MAX:g} (|g_i| <= "
                    f"{math.sqrt(FIELD_VARIANCE_MAX):g}), where double precision still resolves the curvature; "
                    f"got {gv.tolist()}")
    elif np.any(model.tau * q > FIELD_VARIANCE_MAX):
        return (f"Q: the field variance tau*Q_ii must be <= {FIELD_VARIANCE_MAX:g}, where double precision still "
                f"resolves the curvature; got diag {q.tolist()} (tau = {model.tau:g})")
    return ""


def _curvature(model, Q, R, g, N):
    K, M = model.K, model.M
    J, B = realise_any(model, Q, R)
    N1 = K + M if N == K + M else K + M + 1
    if N1 > K + M:
        J, B = np.hstack([J, np.zeros((K, 1))]), np.hstack([B, np.zeros((M, 1))])
    learned = model.learns_gain
    gv = np.ones(K) if g is None else np.asarray(g, dtype=float)
    w0 = np.concatenate([J.ravel()] + ([gv] if learned else []))
    h = gv / np.sqrt(model.tau * np.diag(Q)) if model.has_bn else np.ones(K)
    # the Fisher matrix's teacher is the student's effective weights h J: a committee of K units. Its
    # model only sizes the teacher (M = K): weight_gradient takes T = B B^T from the weights, so the
    # model's own T is left at its default (T = (hJ)(hJ)^T can exceed the range Committee accepts)
    teachers = {"hessian": (model, B), "fisher": (model.with_(M=K), h[:, None] * J)}
    parts = {}
    for kind, (m, Bk) in teachers.items():
        def grad(v, m=m, Bk=Bk):
            Jv = v[:K * N1].reshape(K, N1)
            gw = v[K * N1:] if learned else gv.astype(v.dtype)
            dJ, dg, _ = weight_gradient(m, Jv, gw if model.has_bn else None, Bk.astype(v.dtype))
            return np.concatenate([dJ.ravel()] + ([dg] if learned else []))
        A = _hessian(grad, w0)
        ev = np.linalg.eigvalsh(A)
        if N1 > K + M:  # the last input is orthogonal to every weight vector: the bulk block
            idx = np.arange(K) * N1 + (N1 - 1)
            bulk = np.linalg.eigvalsh(A[np.ix_(idx, idx)])
            mult = N - N1
        else:
            bulk, mult = np.zeros(0), 0
        parts[kind] = (ev, bulk, mult, A)
    return Curvature(model, Q, R, g, N, parts, J)


class CurvatureTrajectory(Result):
    """The curvature statistics along a trajectory (returned by :func:`curvature_along`).

    Attributes
    ----------
    model : Committee
    N : int
    alpha : ndarray (n,)
    seeds : ndarray or None
        The seeds of a simulation (a leading axis on every statistic), None for an ODE.
    values : dict
        ``{kind: {stat: ndarray}}`` for ``kind`` in ``("hessian", "fisher")`` and each statistic
        of :meth:`Curvature.stats`, with shape ``(n,)`` or ``(seeds, n)``; NaN where the state
        was not recorded (a seed that stopped early).
    status, message
        The trajectory's own status and message (the curvature adds no failure of its own).
    """

    def __init__(self, model, N, alpha, seeds, values, status, message):
        self.model, self.N, self.alpha, self.seeds, self.values = model, N, alpha, seeds, values
        self.status, self.message = status, message

    def _summary(self) -> str:
        return f"{self.model.describe()}, N={self.N}, {alpha_span(self.alpha)}"

    def _fields(self) -> dict:
        return {"model": self.model, "N": self.N, "alpha": self.alpha, "seeds": self.seeds, "values": self.values}

    def to_xarray(self):
        """A labeled ``xarray.Dataset``: ``<kind>_<stat>`` against ``alpha`` (and ``seed``)."""
        import xarray as xr

        lead = () if self.seeds is None else ("seed",)
        data = {f"{k}_{s}": (lead + ("alpha",), v) for k, d in self.values.items() for s, v in d.items()}
        coords = {"alpha": self.alpha}
        if self.seeds is not None:
            coords["seed"] = np.asarray(self.seeds)
        attrs = {**self.model.attrs(), "N": self.N, "status": str(self.status), "message": self.message,
                 **self._identity()}
        return xr.Dataset(data, coords=coords, attrs=attrs)


def curvature_along(result, N=None) -> CurvatureTrajectory:
    """The Hessian and Fisher statistics (:meth:`Curvature.stats`) at every recorded state of an
    :class:`~symphase.ODEResult` or :class:`~symphase.SimulationResult` (docs/model.md §10).

    Parameters
    ----------
    result : ODEResult or SimulationResult
    N : int, optional
        The input dimension; required for an ODE result, a simulation's own ``N`` by default.

    Returns
    -------
    CurvatureTrajectory

    Raises
    ------
    ValueError
        No ``N`` for an ODE result, or ``N`` outside ``[K + M, 2^53]``.

    Notes
    -----
    A state outside the range of :func:`curvature` (a field variance above ``1e12``) is left NaN;
    a state whose spectrum double precision does not resolve to 4 digits (a :class:`Curvature`
    with status ``"failed"``) keeps its statistics. The message counts both.
    """
    if not (isinstance(result, Result) and all(hasattr(result, a) for a in ("alpha", "Q", "R", "g", "eg"))):
        raise TypeError(f"result must be an ODEResult or a SimulationResult, got {type(result).__name__}")
    model = result.model
    seeds = getattr(result, "seeds", None)
    if N is None:
        if seeds is None:
            raise ValueError("N must be given (an integer >= K + M) for the curvature along an ODE trajectory")
        N = result.N
    N = check_dimension("N", N, minimum=model.K + model.M)
    Q, R = np.asarray(result.Q), np.asarray(result.R)
    g = None if result.g is None else np.asarray(result.g)
    lead = Q.shape[:-2]
    names = ("mean", "second_moment", "max", "min", "condition", "null_dim")
    values = {k: {s: np.full(lead, np.nan) for s in names} for k in KINDS}
    outside, imprecise = 0, 0
    for idx in np.ndindex(*lead):
        if not np.all(np.isfinite(Q[idx])):
            continue
        gi = None if g is None else g[idx]
        if _out_of_range(model, Q[idx], gi):
            outside += 1
            continue
        # a recorded state is valid to the integrator's tolerance (psd_tol); the realisation takes
        # the nearest positive semi-definite Gram matrix (negative eigenvalues at rounding level clipped)
        c = _curvature(model, 0.5 * (Q[idx] + np.swapaxes(Q[idx], -1, -2)), R[idx], gi, N)
        imprecise += not c.success
        for k in KINDS:
            st = c.stats(k)
            for s in names:
                values[k][s][idx] = st[s]
    message = result.message
    if outside:
        message += (f"; curvature: {outside} state(s) left NaN, a field variance above {FIELD_VARIANCE_MAX:g} "
                    "(or a BN norm outside its range)")
    if imprecise:
        message += (f"; curvature: at {imprecise} state(s) the smallest eigenvalues keep fewer than 4 significant "
                    "digits (condition above double precision's reach)")
    return CurvatureTrajectory(model, N, np.asarray(result.alpha), seeds, values, result.status, message)
