"""Finite-N fluctuations: the diffusion matrix of the order parameters and the linear-noise bands
(docs/model.md §12).

One SGD step changes the flat state by ``(1/(N b)) sum_u psi(z_u) + O(N^-3/2)``, where
``psi`` is the per-example rate whose average over the fields is the ODE's right-hand
side (docs/model.md §3, §11; ``b`` the minibatch), generated from the derivation's
update rule (``derivations/fluctuations.py``, ``symphase/_generated/fluctuations.py``):

    psi_Qik = eta [h_k d_k x_i + h_i d_i x_k - e (h_i d_i x_i/Q_ii + h_k d_k x_k/Q_kk) Q_ik]
              + (eta^2 tau / b) h_i h_k d_i d_k
    psi_Rin = eta h_i d_i (y_n - e x_i R_in/Q_ii)
    psi_gi  = eta d_i u_i / g_i                                 (learned gain)

with ``d_i = Delta phi'(u_i)``, ``u_i = h_i x_i``. Over ``d alpha`` there are ``N d alpha``
steps, so at finite ``N`` ``dy = f(y) d alpha + (D(y)/N)^(1/2) dW`` with the diffusion
matrix ``D = Cov_z[psi] / b``. Its leading part ``eta^2 D1`` has a closed form
(:func:`linear_diffusion`, generated from derivations/diffusion.py); the higher parts average six
and eight erf factors with no closed form, so the full ``D`` is computed by quasi-Monte Carlo over the fields
(``z = sigma L w``, ``L L^T = G``, ``w`` from 2^16 scrambled Sobol points with a fixed
seed: deterministic); the rule's mean of ``psi`` reproduces the right-hand side, which
measures its accuracy (about 1e-4 relative).

The linear-noise approximation then propagates the state covariance along the ODE,
``d Sigma/d alpha = A Sigma + Sigma A^T + D/N`` with ``A`` the Jacobian of the
right-hand side, and ``eg_std = (grad eps_g^T Sigma grad eps_g)^(1/2)``.
"""
from __future__ import annotations

import functools
import math
from collections import namedtuple

import numba
import numpy as np

from ._generated import diffusion as gend
from ._generated import fluctuations as gen
from ._generated import ode_kernels as gen_ode
from ._generated.rule import sgd_example
from ._kernels import (
    ACTIVATION,
    ETA,
    LEARN_V,
    NO_NRT,
    OK,
    TAU,
    check_state,
    covariance,
    example_outputs,
    rhs,
    step_constants,
)
from ._layout import unpack_into
from ._model import check_committee, check_model
from ._overlap_sgd import gram_factor
from ._results import SymphaseError
from ._rng import next_normal
from ._state import Diffusion, committee_state, old_forms, split_state, state_names
from ._validate import check_real


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def sgd_rates(z, d, h, Q, R, g, eta, switches, psi):
    """SGD's per-example rates ``psi`` (module docstring; generated from the rule's derivation,
    ``symphase/_generated/fluctuations.py``) into the flat ``psi``, from the fields ``z`` (K + M,), the
    error signals ``d`` (K,) of the rule's per-example kernel, the scale factors ``h`` and the state.
    ``switches = (tau, b, e, lg, has_gain)``. A rule's rates kernel has this signature."""
    K, M = R.shape
    tau, b, e, lg, has_gain = switches
    a = 0
    # Q_ii enters only as the exact rule's e/Q_ii: 1 in its place at e = 0 (plain is defined at zero
    # weights, Q_ii = 0; derivations/derive.py checks the rates do not depend on Q_ii there)
    for i in range(K):
        qi = Q[i, i] if e != 0.0 else 1.0
        for k in range(i, K):
            qk = Q[k, k] if e != 0.0 else 1.0
            psi[a] = gen.psi_q(z[i], z[k], d[i], d[k], h[i], h[k], Q[i, k], qi, qk, (eta, tau, b, e))
            a += 1
    for i in range(K):
        qi = Q[i, i] if e != 0.0 else 1.0
        for m in range(M):
            psi[a] = gen.psi_r(z[i], z[K + m], d[i], h[i], R[i, m], qi, eta, e)
            a += 1
    if has_gain:
        for i in range(K):
            psi[a] = gen.psi_g(z[i], d[i], h[i], g[i], eta, lg)
            a += 1


#: Work arrays of :func:`rate_moments` (built by :func:`moment_workspace`): the moments ``mean``
#: (size,) and ``second`` (size, size) it writes, and scratch: the per-example rate ``psi``, the fields
#: ``z`` and their Gram matrix ``G``, factor ``L`` and independent directions ``used`` and ``cols`` (n,),
#: the scale factors ``h`` and ``diag Q`` ``qd``, the committee's second layers ``ones_k`` (K,) and
#: ``ones_m`` (M,), and ``ex``, the per-example kernel's five outputs (K,) each. The kernels allocate
#: nothing (they run without reference counting, :data:`symphase._kernels.NO_NRT`).
MomentWork = namedtuple("MomentWork", "mean second psi z G L used cols h qd ones_k ones_m ex")


def moment_workspace(model) -> MomentWork:
    """The work arrays of :func:`rate_moments` for ``model`` (its flat state's ``size`` entries, ``K``
    students and ``n = K + M`` fields)."""
    size, K, n = model.layout.size, model.K, model.K + model.M
    return MomentWork(mean=np.empty(size), second=np.empty((size, size)), psi=np.empty(size), z=np.empty(n),
                      G=np.empty((n, n)), L=np.zeros((n, n)), used=np.zeros(n, dtype=np.bool_),
                      cols=np.zeros(n, dtype=np.int64), h=np.ones(K), qd=np.zeros(K), ones_k=np.ones(K),
                      ones_m=np.ones(n - K), ex=example_outputs(K))


@numba.njit(cache=True, nogil=True, error_model="numpy", **NO_NRT)
def rate_moments(Q, R, g, T, par, b, has_gain, points, weights, work):
    """:func:`rate_moments_with` for SGD (its per-example kernel and :func:`sgd_rates`)."""
    return rate_moments_with(sgd_example, sgd_rates, Q, R, g, T, par, b, has_gain, points, weights, work)


@numba.njit(cache=True, nogil=True, inline="always")
def rate_setup(Q, g, par, b, has_gain, h, qd):
    """The rule's constants at one state, shared by :func:`rate_moments_with` and
    :func:`sde_example_steps_with`: writes the scale factors ``h`` (BN: ``g_i/(sigma sqrt Q_ii)``, else 1)
    and ``qd = diag Q`` in place; returns ``(sigma, noise_sd, eta, switches, consts)`` with the switches of
    :func:`sgd_rates` and the per-example kernel's constants at lr = eta (rates per unit alpha; the
    committee machine with erf)."""
    K = Q.shape[0]
    sigma, noise_sd, bn, exact, learn, _ = step_constants(par, 1, 1)
    eta = par[ETA]
    for i in range(K):
        qd[i] = Q[i, i]
        h[i] = g[i] / (sigma * math.sqrt(Q[i, i])) if bn else 1.0
    switches = (par[TAU], b, 1.0 if exact else 0.0, 1.0 if learn else 0.0, has_gain)
    # the committee's activation (erf) and fixed second layer, read from par so that they are typed as at
    # run time (literal constants here would compile a second sgd_example)
    consts = (eta, eta, 1.0, int(par[ACTIVATION]), exact, learn, par[LEARN_V] != 0.0)
    return sigma, noise_sd, eta, switches, consts


@numba.njit(cache=True, nogil=True, inline="always")
def rate_at(example, rates, z, noise, Q, R, g, rc, out, psi):
    """The per-example rate ``psi`` (flat layout) at the fields ``z`` (raw, ``K + M``) and the output
    ``noise``: the rule's per-example kernel ``example`` (the error signals, into ``out[0]``), then its
    ``rates`` (module docstring). ``rc = (h, eta, switches, state, consts)``: the scale factors, the
    learning rate, the switches of :func:`sgd_rates` and the per-example kernel's ``state`` and
    ``consts`` (:func:`rate_setup`)."""
    K = Q.shape[0]
    h, eta, switches, state, consts = rc
    example(z[:K], z[K:], noise, state, consts, out)
    rates(z, out[0], h, Q, R, g, eta, switches, psi)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")  # the wrappers bind the rule statically
def rate_moments_with(example, rates, Q, R, g, T, par, b, has_gain, points, weights, work):
    """Cubature of the first two moments of the per-example rate ``psi`` (module docstring) over the
    fields ``z ~ N(0, tau G)`` and the output noise: ``mean = E[psi]``, ``second = E[psi psi^T]``
    (flat layout, ``size`` entries; in ``work``, a :data:`MomentWork`). ``points`` (n_points, dims),
    ``weights`` (n_points,): a rule for
    the standard normal in ``dims`` dimensions, at least the rank of ``G`` (plus one for output noise):
    column ``t`` drives the ``t``-th independent field, the last one the noise. The rule's kernels:
    ``example`` (per example: the error signals ``d``) and ``rates`` (``psi`` from them). ``b``: the
    minibatch as a float (``inf`` switches the ``O(eta^2/b)`` part off; one type, one compile). The
    committee machine with erf."""
    mean, second, psi, z, G, L, used = work.mean, work.second, work.psi, work.z, work.G, work.L, work.used
    h, qd, out = work.h, work.qd, work.ex
    size = mean.size
    for a in range(size):
        mean[a] = 0.0
        for c in range(size):
            second[a, c] = 0.0
    rank = gram_factor(Q, R, T, G, L, used)
    if rank < 0:
        return False
    sigma, noise_sd, eta, switches, consts = rate_setup(Q, g, par, b, has_gain, h, qd)
    dims = rank + (1 if noise_sd > 0.0 else 0)
    if points.shape[1] < dims:
        return False
    cols = used_columns(used, rank, work.cols)
    state = (h, h, qd, work.ones_k, work.ones_m)
    for pt in range(points.shape[0]):
        noise = cubature_fields(L, cols, sigma, noise_sd, points[pt], z)
        rate_at(example, rates, z, noise, Q, R, g, (h, eta, switches, state, consts), out, psi)
        add_moments(weights[pt], psi, mean, second)
    symmetrize_upper(second)
    return True


#: Points of the quasi-Monte Carlo rule for the fields (scrambled Sobol, seed 0: deterministic).
QMC_POINTS = 2**16


@functools.cache
def normal_rule(dims: int, n_points: int = QMC_POINTS):
    """A deterministic rule ``(points (n, dims), weights (n,))`` for the standard normal in ``dims``
    dimensions: scrambled Sobol points (seed 0) through the normal quantile, equal weights. Made once
    per size (cached); the kernels only read it."""
    from scipy.special import ndtri
    from scipy.stats import qmc

    u = qmc.Sobol(d=max(dims, 1), scramble=True, seed=0).random(n_points)
    return ndtri(u), np.full(n_points, 1.0 / n_points)


def diffusion(model, y, eta, *, rule=None, T=None):
    """The diffusion matrix ``D(y)`` (so that ``Cov[y(alpha + d alpha) | y] = D d alpha / N``) and the
    rule's drift ``E[psi]`` (the right-hand side up to the rule's error), at flat state ``y``
    (docs/model.md §12).

    Parameters
    ----------
    model : Committee
    y : ndarray
        A flat state (``model.layout``).
    eta : float
        The learning rate.
    rule : tuple, optional
        ``(points, weights)`` for the standard normal in ``K + M + 1`` dimensions
        (default :func:`normal_rule`).
    T : ndarray, optional
        Teacher overlaps other than the model's.

    Returns
    -------
    D : ndarray (size, size)
    drift : ndarray (size,)
    """
    system = model.system
    Q, R, g = system.layout.unpack(np.asarray(y, dtype=float))
    Q, R = np.ascontiguousarray(Q), np.ascontiguousarray(R)
    g = np.ones(model.K) if g is None else np.ascontiguousarray(g)
    Tm = system.T if T is None else np.ascontiguousarray(T, dtype=float)
    n = model.K + model.M
    P, w = normal_rule(n + 1) if rule is None else rule
    work = moment_workspace(model)
    ok = rate_moments(Q, R, g, Tm, system.params(eta), float(model.batch), model.has_bn, np.ascontiguousarray(P),
                      np.ascontiguousarray(w), work)
    mean, second = work.mean, work.second
    if not ok:
        raise ValueError("y: the overlaps are not a positive semi-definite Gram matrix [[Q, R], [R^T, T]]")
    D = (second - np.outer(mean, mean)) / model.batch
    return 0.5 * (D + D.T), mean


def linear_diffusion(model, y):
    """The leading part of the diffusion matrix in closed form: ``D = eta^2 D1 + O(eta^3)`` with
    ``D1 = Cov[psi1]/b``, ``psi1 = d psi/d eta`` at ``eta = 0`` (docs/model.md §12), and ``E[psi1]``.

    ``psi1`` is linear in the monomials ``d_a z_c`` (coefficients generated from the update rule,
    ``symphase/_generated/diffusion.py``), so ``Cov[psi1]`` needs ``<d_a z_c>`` (the ODE's field sums
    ``G``) and ``<d_a z_c d_b z_e>`` (:func:`symphase._generated.diffusion.field_moments`: absorption,
    Stein's lemma, Price's theorem; derivations/diffusion.py), with the raw fields ``x_c = f_c/h_c``.

    Returns
    -------
    D1 : ndarray (size, size)
    mean : ndarray (size,)
        ``E[psi1]``, the right-hand side's ``O(eta)`` part per unit ``eta``.
    """
    system = model.system
    K, M = model.K, model.M
    n = K + M
    a = system.args(1.0)
    ws = a.ws
    covariance(np.asarray(y, dtype=float), a)
    gen_ode.field_sums(ws.C, ws.w, K, ws.G, ws.D, ws.J2, ws.P, ws.Pc, ws.A, ws.B, ws.r)
    M4 = np.empty((K, K, n, n))
    gend.field_moments(ws.C, ws.w, K, model.noise, np.empty((n, n)), np.empty((n, n)), np.empty((n, n)),
                       np.empty((n, n)), np.empty(n), np.empty((n, n)), M4)
    scale = np.concatenate([1.0 / ws.h, np.ones(M)])  # raw fields: x_c = f_c/h_c, y_n
    E1 = ws.G * scale[None, :]
    E2 = M4 * scale[None, None, :, None] * scale[None, None, None, :]
    Q, R, g, h = ws.Q, ws.R, ws.g, ws.h
    e, lg = float(model.exact), float(model.learns_gain)
    terms = []  # per flat entry: [(coefficient, student a, field c)] of psi1 = sum coef d_a z_c
    q = np.diag(Q) if e != 0.0 else np.ones(K)  # e/Q_ii only: 1 at e = 0 (plain at Q_ii = 0; sgd_rates)
    for i in range(K):
        for k in range(i, K):
            c = gend.psi_q_lin(h[i], h[k], Q[i, k], q[i], q[k], e)
            terms.append([(c[0], k, i), (c[1], i, k), (c[2], i, i), (c[3], k, k)])
    for i in range(K):
        for m in range(M):
            c = gend.psi_r_lin(h[i], R[i, m], q[i], e)
            terms.append([(c[0], i, K + m), (c[1], i, i)])
    if model.has_bn:
        for i in range(K):
            terms.append([(gend.psi_g_lin(h[i], g[i], lg), i, i)])
    size = len(terms)
    mean = np.array([sum(cf * E1[a_, c_] for cf, a_, c_ in t) for t in terms])
    second = np.empty((size, size))
    for p in range(size):
        for q in range(p, size):
            second[p, q] = second[q, p] = sum(cp * cq * E2[ap, aq, c_p, c_q]
                                              for cp, ap, c_p in terms[p] for cq, aq, c_q in terms[q])
    return (second - np.outer(mean, mean)) / model.batch, mean


@old_forms(split_state("diffusion_matrix", eta_pos=2))
def diffusion_matrix(model, state, eta, *, part="full") -> Diffusion:
    """The diffusion matrix ``D`` of the order parameters at one state: at finite ``N``,
    ``Cov[y(alpha + d alpha) | y] = D d alpha / N`` (docs/model.md §12).

    Parameters
    ----------
    model : Committee
        The committee machine (plain or BN, population statistics).
    state : State, tuple (Q, R[, g]) or FixedPoint
        The state (:class:`symphase.State`; ``g`` under BN, default ones).
    eta : float
        The learning rate (> 0).
    part : {"full", "linear"}
        ``"full"``: ``Cov[psi]/b`` by quasi-Monte Carlo over the fields (2^16 points; its
        ``O(eta^3)``, ``O(eta^4)`` parts have no closed form). ``"linear"``: its leading part
        ``eta^2 D1`` in closed form (generated from derivations/diffusion.py), the small
        learning rate limit.

    Returns
    -------
    Diffusion
        ``D`` (size, size) in the flat layout (:class:`symphase.StateLayout`), with ``labels``, the
        name of each entry, and ``part``.

    Raises
    ------
    ValueError
        Bad input, named; a two-layer model (docs/model.md §13).
    TypeError
        The old form ``diffusion_matrix(model, Q, R, g, eta=)``, naming ``diffusion_matrix(model, (Q, R, g), eta)``.

    Examples
    --------
    >>> model = symphase.Committee(2, 2)
    >>> state = (0.5 * np.eye(2), 0.2 * np.ones((2, 2)))
    >>> D1 = symphase.diffusion_matrix(model, state, 0.1, part="linear").D
    >>> D = symphase.diffusion_matrix(model, state, 0.1).D
    >>> bool(np.max(np.abs(D - D1)) < 0.2 * np.max(np.abs(D)))   # eta = 0.1: mostly the leading part
    True
    """
    model = check_committee(check_model(model), "diffusion_matrix").require_sgd("diffusion_matrix")
    eta = check_real("eta", eta, positive=True)
    if part not in ("full", "linear"):
        raise ValueError(f"part must be 'full' or 'linear', got {part!r}")
    state = committee_state(model, state, "state")
    y = model.system.state(*state, names=state_names("state"))
    labels = tuple(model.layout.labels())
    if part == "linear":
        return Diffusion(eta**2 * linear_diffusion(model, y)[0], labels, part)
    return Diffusion(diffusion(model, y, eta)[0], labels, part)


def random_start_covariance(model, N: int) -> np.ndarray:
    """The exact covariance of the overlaps of random weights ``J_il ~ N(0, 1/N)`` against a fixed teacher
    with ``B B^T = T`` (the ensemble of :func:`symphase.random_initial`), in the flat layout:
    ``Cov(Q_ik, Q_jl) = (d_ij d_kl + d_il d_kj)/N``, ``Cov(R_in, R_jm) = d_ij T_nm/N``,
    ``Cov(Q, R) = 0``; the gains start at 1 exactly."""
    lay = model.layout
    K, M = model.K, model.M
    S = np.zeros((lay.size, lay.size))
    iQ, iR = lay.Q_index, lay.R_index
    for i in range(K):
        for k in range(i, K):
            for j in range(K):
                for m in range(j, K):
                    S[iQ[i, k], iQ[j, m]] = ((i == j) * (k == m) + (i == m) * (k == j)) / N
        for n in range(M):
            for m in range(M):
                S[iR[i, n], iR[i, m]] = model.T[n, m] / N
    return S


def linear_noise(model, result, N: int, Sigma0, *, h_max: float = 1.0, n_points: int = 2**14):
    """The state covariance ``Sigma(alpha)`` and ``eg_std(alpha)`` along an ODE result (linear-noise
    approximation, docs/model.md §12): ``d Sigma/d alpha = A Sigma + Sigma A^T + D/N`` with ``A`` the
    Jacobian (complex step) and ``D`` the diffusion matrix (quasi-Monte Carlo with ``n_points``),
    integrated by RK4 from each recorded point to the next together with the state, in steps of at
    most ``h_max`` and ``0.5 / |A|`` (Frobenius norm). Returns
    ``(Sigma (n_points, size, size), eg_std (n_points,))``."""
    system = model.system
    eta = result.eta
    ys = system.layout.pack(result.Q, result.R, result.g)
    alpha = np.asarray(result.alpha)
    n_pts, size = ys.shape
    rule = normal_rule(model.K + model.M + 1, n_points)
    Sig = np.empty((n_pts, size, size))
    Sig[0] = Sigma0

    def rates(y, S):
        A = system.jacobian(y, eta)
        try:
            D = diffusion(model, y, eta, rule=rule)[0]
        except ValueError:  # a state of the integration, not the user's input: a numerical failure
            raise SymphaseError("the linear-noise integration left the positive semi-definite overlaps "
                                f"near alpha = {a:.6g}; the trajectory is too close to their boundary") from None
        return system.rhs(y, eta), A @ S + S @ A.T + D / N, A

    for j in range(n_pts - 1):
        a, a1 = alpha[j], alpha[j + 1]
        y, S = ys[j].copy(), Sig[j].copy()
        while a < a1:
            k1y, k1, A = rates(y, S)
            h = min(h_max, 0.5 / max(np.linalg.norm(A), 1e-300), a1 - a)
            if a + h >= a1 * (1 - 1e-14):
                h = a1 - a
            k2y, k2, _ = rates(y + 0.5 * h * k1y, S + 0.5 * h * k1)
            k3y, k3, _ = rates(y + 0.5 * h * k2y, S + 0.5 * h * k2)
            k4y, k4, _ = rates(y + h * k3y, S + h * k3)
            y = y + h / 6 * (k1y + 2 * k2y + 2 * k3y + k4y)
            S = S + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            a += h
        Sig[j + 1] = 0.5 * (S + S.T)
    std = np.empty(n_pts)
    for j in range(n_pts):
        gr = _eg_gradient(system, ys[j])
        std[j] = math.sqrt(max(float(gr @ Sig[j] @ gr), 0.0))
    return Sig, std


def _eg_gradient(system, y):
    """``d eps_g/dy`` by complex step (exact to rounding)."""
    n = y.size
    out = np.empty(n)
    yc = y.astype(complex)
    for j in range(n):
        yc[j] += 1e-30j
        out[j] = system.eg(yc).imag / 1e-30
        yc[j] = y[j]
    return out


#: Work arrays of :func:`sde_example_steps` (built by :func:`sde_example_workspace`): the drift ``f``, the
#: noise sum ``acc`` and the per-example rate ``psi`` (size,), an example's normals ``w`` and fields ``z``,
#: their Gram matrix ``G``, factor ``L`` and independent directions ``used``, the state's ``Qw``, ``Rw``,
#: ``gw``, the scale factors ``h`` and ``diag Q`` ``qd``, the committee's second layers ``ones_k`` (K,) and
#: ``ones_m`` (M,), and ``ex``, the per-example kernel's five outputs (K,) each. The kernel allocates
#: nothing (it runs without reference counting, :data:`symphase._kernels.NO_NRT`).
SDEWork = namedtuple("SDEWork", "f acc psi z w G L used Qw Rw gw h qd ones_k ones_m ex")
#: The constants of :func:`sde_example_steps`: input dimension, minibatch, whether the state has
#: gains, the step in alpha, the divergence bound, the Gram tolerance and the examples per step.
SDEConsts = namedtuple("SDEConsts", "N b has_gain dalpha blowup psd_tol examples")

#: Examples drawn per step of :func:`sde_example_steps` (their mean centred on the drift is the noise
#: increment).
SDE_EXAMPLES = 4


@numba.njit(cache=True, nogil=True, error_model="numpy", **NO_NRT)
def sde_example_steps(y, ka, s, n_steps, c, work):
    """:func:`sde_example_steps_with` for SGD (its per-example kernel, :func:`sgd_rates` and the ODE's
    right-hand side)."""
    return sde_example_steps_with(sgd_example, sgd_rates, rhs, y, ka, s, n_steps, c, work)


@numba.njit(cache=True, nogil=True, inline="always")
def used_columns(used, rank, cols):
    """The indices of the ``rank`` directions ``used`` by the Gram factor (:func:`cubature_fields`): written
    into ``cols`` (int64, at least ``rank`` long), and returned as its first ``rank`` entries (a view)."""
    r = 0
    for j in range(used.size):
        if used[j]:
            cols[r] = j
            r += 1
    return cols[:rank]


@numba.njit(cache=True, nogil=True, inline="always")
def cubature_fields(L, cols, sigma, noise_sd, point, z):
    """One cubature point's fields ``z = sigma L[:, cols] point[:rank]`` in place, and its output noise
    ``noise_sd point[rank]`` (returned): the diffusion moments' examples (SGD's and the preconditioned rules')."""
    rank = cols.size
    for p in range(z.size):
        acc = 0.0
        for t in range(rank):
            acc += L[p, cols[t]] * point[t]
        z[p] = sigma * acc
    return noise_sd * point[rank] if noise_sd > 0.0 else 0.0


@numba.njit(cache=True, nogil=True, inline="always")
def add_moments(wgt, psi, mean, second):
    """``mean += wgt psi`` and the upper triangle of ``second += wgt psi psi^T`` (:func:`symmetrize_upper`)."""
    size = psi.size
    for p in range(size):
        mean[p] += wgt * psi[p]
        for q in range(p, size):
            second[p, q] += wgt * psi[p] * psi[q]


@numba.njit(cache=True, nogil=True, inline="always")
def symmetrize_upper(second):
    """Copy the upper triangle of ``second`` into its lower one."""
    for p in range(second.shape[0]):
        for q in range(p):
            second[p, q] = second[q, p]


@numba.njit(cache=True, nogil=True, inline="always")
def draw_fields(s, L, used, sigma, w, z):
    """One example's fields ``z = sigma L w`` in place, ``w ~ N(0, I)`` on the directions ``used`` (``L`` the
    Gram factor of :func:`symphase._overlap_sgd.gram_factor`), drawn from the RNG state ``s`` in order: the
    SDE schemes' examples (SGD's and the preconditioned rules')."""
    n = z.size
    for q in range(n):
        w[q] = next_normal(s) if used[q] else 0.0
    for p in range(n):
        t = 0.0
        for q in range(p + 1):
            t += L[p, q] * w[q]
        z[p] = sigma * t


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")  # the wrappers bind the rule statically
def sde_example_steps_with(example, rates, drift, y, ka, s, n_steps, c, work):
    """``n_steps`` Euler steps of the diffusion approximation ``dy = f d alpha + (D/N)^(1/2) dW``
    (docs/model.md §12) on the flat state ``y`` in place, with noise increments drawn from the rule's
    own per-example rates: ``y += f h + (h/(N b m))^(1/2) sum_{j<m} (psi(z_j) - f)``, ``z_j ~ N(0, tau G)``
    the fields of ``m = c.examples`` fresh examples (and their output noise), ``h = c.dalpha``, ``f``
    the drift ``drift(y, f, ka)`` (SGD: the ODE's right-hand side, which is ``E[psi]`` exactly).

    The increment has mean 0 and covariance ``D h/N`` exactly (no cubature error in ``D``, no
    eigen-decomposition), and higher cumulants that vanish as steps accumulate: a weak Euler scheme for
    the SDE (Kloeden & Platen 1992, §14.1, with non-Gaussian increments of the right first two moments).
    The rule's kernels: ``example``, ``rates`` (as :func:`rate_moments_with`) and ``drift``. ``s`` the
    RNG state; ``c`` an :data:`SDEConsts`, ``work`` an :data:`SDEWork`. Returns the steps done before the
    state stopped being valid (``check_state``), -1 if the Gram matrix lost positive
    semi-definiteness."""
    f, acc, psi, z, w, G, L, used, Qw, Rw, gw, h, qd = (work.f, work.acc, work.psi, work.z, work.w, work.G, work.L,
                                                        work.used, work.Qw, work.Rw, work.gw, work.h, work.qd)
    ones_k, ones_m, out = work.ones_k, work.ones_m, work.ex  # the committee machine: v = 1, v* = 1
    size = y.size
    scale = math.sqrt(c.dalpha / (c.N * c.b * c.examples))
    for step in range(n_steps):
        drift(y, f, ka)
        unpack_into(y, Qw, Rw, gw, c.has_gain)
        if gram_factor(Qw, Rw, ka.T, G, L, used) < 0:
            return -1
        sigma, noise_sd, eta, switches, consts = rate_setup(Qw, gw, ka.par, c.b, c.has_gain, h, qd)
        state = (h, h, qd, ones_k, ones_m)
        for p in range(size):
            acc[p] = 0.0
        for _ in range(c.examples):
            draw_fields(s, L, used, sigma, w, z)
            noise = noise_sd * next_normal(s) if noise_sd > 0.0 else 0.0
            rate_at(example, rates, z, noise, Qw, Rw, gw, (h, eta, switches, state, consts), out, psi)
            for p in range(size):
                acc[p] += psi[p] - f[p]
        for p in range(size):
            y[p] += f[p] * c.dalpha + scale * acc[p]
        if check_state(y, ka, c.blowup, c.psd_tol) != OK:
            return step
    return n_steps


def sde_example_workspace(model) -> SDEWork:
    """The work arrays of :func:`sde_example_steps` for ``model``."""
    size, K, M = model.layout.size, model.K, model.M
    n = K + M
    return SDEWork(f=np.empty(size), acc=np.empty(size), psi=np.empty(size), z=np.empty(n), w=np.empty(n),
                   G=np.empty((n, n)), L=np.zeros((n, n)), used=np.zeros(n, dtype=np.bool_),
                   Qw=np.empty((K, K)), Rw=np.empty((K, M)), gw=np.empty(K), h=np.ones(K), qd=np.empty(K),
                   ones_k=np.ones(K), ones_m=np.ones(M), ex=example_outputs(K))

#: The default step in ``alpha`` of the weak Euler scheme (docs/model.md §12.1).
SDE_STEP = 0.05


def sde_setup(model, N, eta, *, T=None, dalpha=0.0, blowup=1e6, psd_tol=1e-7):
    """The records of SGD's :func:`sde_example_steps` for ``model`` at input dimension ``N`` and learning rate
    ``eta``: ``(ka, consts, work)``, called as ``sde_example_steps(y, ka, s, n_steps, consts, work)``
    (one ``work`` per concurrent path). ``T``: a seed's own teacher overlaps (default the model's). The
    caller has validated the inputs."""
    ka = model.system.args(eta)
    if T is not None:
        ka = ka._replace(T=np.ascontiguousarray(T, dtype=float))
    consts = SDEConsts(N=N, b=model.batch, has_gain=model.has_bn, dalpha=dalpha, blowup=blowup, psd_tol=psd_tol,
                       examples=SDE_EXAMPLES)
    return ka, consts, sde_example_workspace(model)


def sde_step(model, eta, *states) -> float:
    """SGD's default step of the weak Euler scheme: :data:`SDE_STEP`, whatever the states."""
    return SDE_STEP
