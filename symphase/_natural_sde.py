"""The diffusion approximation (SDE) of the preconditioned update, committee machine (docs/model.md §14.7).

The update of ``Committee(..., preconditioner=...)`` is ``Delta theta = (F + eps I)^-1 Delta theta_SGD``
(docs/model.md §14.1) with ``F`` the population Fisher at the parameters before the step. ``F`` depends on the
state ``y = (Q, R, g)`` only, so one step is a fixed linear map, set by ``y``, of SGD's per-example coefficients
(:func:`symphase._natural.natural_steps_with`): with ``a_u = (eta/(N b)) h d_u``, ``p_u = e a_u x_u/Q_ii`` and
``dg_u`` SGD's coefficients of example ``u`` (:func:`symphase._generated.rule.sgd_example`),

    J_i -> J_i + sum_a Pi_ia J_a + sum_u coef_ui xi_u,   coef_u = B^-1 a_u,   g -> g + dgain,

``B = h A h + eps I`` the bulk, and ``Pi``, ``dgain`` linear in ``(G = sum_u a_u x_u^T, sum_u p_u, sum_u dg_u)``
(:func:`symphase._natural.span_step`). Expanding the exact chain (:func:`symphase._natural.natural_overlap_steps`)
to ``O(1/N)``, each example moves the flat state by ``psi(z_u)/(N b)`` with the *per-example rate*
(``|xi_u|^2 = N tau + O(N^1/2)``; rates per unit alpha, i.e. SGD's coefficients at ``lr = eta``)

    psi_Qik = (pi Q)_ik + (pi Q)_ki + c_i x_k + c_k x_i + (tau/b) c_i c_k,
    psi_Rin = (pi R)_in + c_i y_n,
    psi_gi  = dgain_i(pi),

``c = B^-1 eta h d`` (the example's preconditioned ``xi`` coefficient) and ``pi`` the span part of the example's
own coefficients ``(eta h d x^T, eta e h d x/Q_ii, eta d u/g)``. This is SGD's ``psi`` (docs/model.md §12) mapped
through ``(F + eps I)^-1``: at ``B = I``, ``pi = -diag(p)`` it is SGD's, term by term. Its mean over the fields
``z ~ N(0, tau G)`` and the output noise is the preconditioned ODE's right-hand side
(:func:`symphase._natural_ode.natural_rhs_kernel`): the ``O(eta)`` part is the map applied to SGD's mean
coefficients, and the bulk term ``(tau/b) c c^T`` gives the ``O(eta^2)`` part ``(eta^2 tau/b) B^-1 h <d d^T> h B^-T``,
as SGD's ``(eta^2 tau/b) h_i h_k d_i d_k`` does for SGD (:func:`symphase._fluctuations.sgd_rates`).

:func:`natural_sde_steps` runs SGD's weak Euler scheme (:func:`symphase._fluctuations.sde_example_steps_with`,
docs/model.md §12.1) with this ``psi`` and the preconditioned ODE's drift ``f``:

    y <- y + f h + (h/(N b m))^(1/2) sum_{j<m} (psi(z_j) - f),   z_j ~ N(0, tau G),  m = SDE_EXAMPLES,

drawing the same random numbers in the same order as SGD's scheme. ``psi`` is linear in the example's
coefficients apart from the bulk term, so the sum over the ``m`` examples takes one span solve (the summed
coefficients) rather than ``m``. :func:`natural_rate_moments` gives ``E[psi]`` and ``E[psi psi^T]`` by cubature
(the diffusion matrix ``D = Cov[psi]/b``, :func:`natural_diffusion`).

Covered: what the weights and chain kernels run (docs/model.md §14.4): the committee machine (erf, second
layers fixed at 1, scaling ``"sum"``, no weight decay), plain and both BN rules with population statistics
(gain learned or fixed), ``natural`` and ``unitwise`` (and ``DAMPING_ONLY``, ``F -> 0``: SGD's scheme at
``eta/eps``), any ``K``, ``M``, batch, output noise and ``tau``.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np

from ._fluctuations import (
    SDE_EXAMPLES,
    MomentWork,
    SDEConsts,
    SDEWork,
    add_moments,
    cubature_fields,
    draw_fields,
    moment_workspace,
    normal_rule,
    rate_setup,
    sde_example_workspace,
    symmetrize_upper,
    used_columns,
)
from ._generated.rule import sgd_example
from ._kernels import BN, LEARN_GAIN, NO_NRT, OK, TAU, check_state
from ._layout import unpack_into
from ._natural import MODES, check_supported, span_step, step_factors, step_work
from ._natural_ode import _workspace as ode_workspace
from ._natural_ode import jacobian, natural_rhs_kernel, weight_space_rates
from ._overlap_sgd import gram_factor
from ._results import SymphaseError
from ._rng import next_normal
from ._validate import check_dimension, check_real

__all__ = ["NaturalMomentWork", "NaturalSDEConsts", "NaturalSDEWork", "Preconditioning", "natural_diffusion",
           "natural_moment_workspace", "natural_rate_at", "natural_rate_moments", "natural_sde_setup",
           "natural_sde_step", "natural_sde_steps", "natural_sde_workspace", "preconditioning"]

#: The preconditioner of a kernel: ``mode`` (:data:`symphase._natural.NATURAL`, ``UNITWISE`` or
#: ``DAMPING_ONLY``) and the damping ``eps > 0``.
Preconditioning = namedtuple("Preconditioning", "mode damping")
#: The constants of :func:`natural_sde_steps`: SGD's :data:`symphase._fluctuations.SDEConsts` (input
#: dimension, minibatch, whether the state has gains, the step in alpha, the divergence bound, the Gram
#: tolerance, the examples per step) and ``pre``, a :data:`Preconditioning`.
NaturalSDEConsts = namedtuple("NaturalSDEConsts", SDEConsts._fields + ("pre",))
#: Work arrays of :func:`natural_sde_steps` (:func:`natural_sde_workspace`): SGD's
#: :data:`symphase._fluctuations.SDEWork`, and ``inv_s`` (BN's ``1/(sigma sqrt Q_ii)``), ``fac`` the factors of
#: ``(F + eps I)^-1`` (:func:`symphase._natural.step_work`), ``ode`` the drift's
#: (:func:`symphase._natural_ode._workspace`), ``sums`` (``G`` (K, K), ``sum p``, ``sum dg``, the direct part of
#: ``psi``), ``coef`` (K,), ``Pi`` (K, K), ``dgain`` (K,).
NaturalSDEWork = namedtuple("NaturalSDEWork", SDEWork._fields + ("inv_s", "fac", "ode", "sums", "coef", "Pi",
                                                                 "dgain"))
#: Work arrays of :func:`natural_rate_moments` (:func:`natural_moment_workspace`): SGD's
#: :data:`symphase._fluctuations.MomentWork` (``mean``, ``second`` the moments written; its scratch ``h``, ``qd``,
#: ``cols``, ``ones_k``, ``ones_m``, ``ex``), and the per-example rate's (:func:`natural_rate_at`): ``inv_s`` (K,),
#: ``fac``, ``saved`` (copies of the two matrices the span solve overwrites), ``sums``, ``coef``, ``Pi``,
#: ``dgain``.
NaturalMomentWork = namedtuple("NaturalMomentWork", MomentWork._fields + ("inv_s", "fac", "saved", "sums", "coef", "Pi",
                                                                          "dgain"))


def preconditioning(model) -> Preconditioning:
    """The :data:`Preconditioning` of ``model`` (``preconditioner="natural"`` or ``"unitwise"``, its damping)."""
    return Preconditioning(mode=MODES[model.preconditioner], damping=float(model.damping))


def _sums(K, size):
    return (np.zeros((K, K)), np.zeros(K), np.zeros(K), np.zeros(size))


def natural_sde_workspace(model) -> NaturalSDEWork:
    """The work arrays of :func:`natural_sde_steps` for ``model`` (one per seed or sample): SGD's
    (:func:`symphase._fluctuations.sde_example_workspace`) and the preconditioner's."""
    size, K, M = model.layout.size, model.K, model.M
    return NaturalSDEWork(*sde_example_workspace(model), inv_s=np.ones(K), fac=step_work(K, model.learns_gain),
                          ode=ode_workspace(K, M), sums=_sums(K, size), coef=np.zeros(K), Pi=np.zeros((K, K)),
                          dgain=np.zeros(K))


def natural_sde_setup(model, N, eta, *, T=None, dalpha=0.05, blowup=1e6, psd_tol=1e-7):
    """The records of :func:`natural_sde_steps` for ``model`` at input dimension ``N`` and learning rate ``eta``:
    ``(ka, consts, work)``, to be called as ``natural_sde_steps(y, ka, s, n_steps, consts, work)`` with ``y`` a
    flat state (``model.layout``; copied by the caller, advanced in place) and ``s`` an RNG state
    (:func:`symphase._rng.rng_state`). One ``work`` per concurrent path.

    Parameters
    ----------
    model : Committee
        The committee machine with ``preconditioner="natural"`` or ``"unitwise"`` (plain or BN).
    N : int
        The input dimension (``>= K + M``).
    eta : float
        The learning rate (> 0).
    T : array_like (M, M), optional
        Teacher overlaps other than the model's (a seed's own teacher).
    dalpha : float
        The step ``h`` in alpha (> 0); ``consts._replace(dalpha=...)`` changes it.
    blowup, psd_tol : float
        :func:`symphase._kernels.check_state`'s divergence bound and Gram tolerance (> 0).

    Returns
    -------
    (KernelArgs, NaturalSDEConsts, NaturalSDEWork)

    Raises
    ------
    ValueError
        Another preconditioner or model (:func:`symphase._natural.check_supported`), bad ``N``, ``eta``,
        ``dalpha``, ``blowup``, ``psd_tol`` or ``T``.
    """
    check_supported(model, "the SDE (method='sde')")
    N = check_dimension("N", N, model.K + model.M)
    eta = check_real("eta", eta, positive=True)
    dalpha = check_real("dalpha", dalpha, positive=True)
    blowup = check_real("blowup", blowup, positive=True)
    psd_tol = check_real("psd_tol", psd_tol, positive=True)
    ka = model.system.args(eta)
    if T is not None:
        T = np.ascontiguousarray(T, dtype=float)
        if T.shape != (model.M, model.M) or not np.all(np.isfinite(T)):
            raise ValueError(f"T must be a finite ({model.M}, {model.M}) array, got shape {T.shape}")
        ka = ka._replace(T=T)
    consts = NaturalSDEConsts(N=N, b=model.batch, has_gain=model.has_bn, dalpha=dalpha, blowup=blowup,
                              psd_tol=psd_tol, examples=SDE_EXAMPLES, pre=preconditioning(model))
    return ka, consts, natural_sde_workspace(model)


#: SGD's step in alpha of the diffusion approximation (``simulate(method="sde")``, ``escape_time``): at
#: ``eta = 1`` on SGD's plateau it is ``0.05/rho``, ``rho`` the drift Jacobian's spectral radius (0.99 at K = 2).
BASE_STEP = 0.05


def natural_sde_step(model, eta, *states, base=BASE_STEP) -> float:
    """A step in alpha for :func:`natural_sde_steps` that resolves the preconditioned drift as SGD's default
    ``base`` resolves SGD's: ``h = base / max(1, eta rho)``, ``rho`` the largest spectral radius of the
    drift's ``O(eta)`` Jacobian per unit ``eta`` (:func:`symphase._natural_ode.jacobian`) over ``states``
    (flat states or ``(Q, R[, g])`` tuples; e.g. the start and the plateau it will reach), docs/model.md §14.7.

    The weak Euler scheme's mean is off by ``O(h rho eta)`` (its drift part is Euler's method), and it is
    unstable for ``h eta rho > 2``. Preconditioning raises ``rho``: along ``F``'s null directions it is SGD's rate
    over ``eps`` (at the coinciding plateau, K = 2: 0.99 for SGD, 65.7 for ``natural`` at ``eps = 1e-3``), so the
    step has to shrink with the damping.

    Raises
    ------
    ValueError
        Another preconditioner or model; no state, a bad state, ``eta`` or ``base``.
    """
    check_supported(model, "natural_sde_step")
    eta = check_real("eta", eta, positive=True)
    base = check_real("base", base, positive=True)
    if not states:
        raise ValueError("states: natural_sde_step needs at least one state")
    rho = 0.0
    for st in states:
        if isinstance(st, np.ndarray) and st.ndim == 1:
            y = np.asarray(st, dtype=float)
        else:
            Q, R, g = (tuple(st) + (None,))[:3]
            y = model.system.state(Q, R, g)
        try:
            rates = np.linalg.eigvals(jacobian(model, y))
        except SymphaseError:  # BN where the students coincide: the same linearisation in weight space (§14.6)
            Q, R, g = model.layout.unpack(y)
            rates = weight_space_rates(model, Q, R, g)
        rho = max(rho, float(np.max(np.abs(rates))))
    return base / max(1.0, eta * rho)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _add_example(z, noise, rs, Binv, out, coef, sums):
    """One example's share of ``psi`` (module docstring) added to ``sums = (G, psum, dgsum, direct)``: SGD's
    coefficients at ``lr = eta`` (``rs = (state, consts, tau/b)``, :func:`symphase._generated.rule.sgd_example`'s
    ``state`` and ``consts``), ``G += a x^T``, ``psum += p``, ``dgsum += dg``, and the direct part (flat layout)
    ``c_i x_k + c_k x_i + (tau/b) c_i c_k`` on ``Q_ik``, ``c_i y_n`` on ``R_in``, ``c = B^-1 a`` (into ``coef``).
    ``z`` are the raw fields (K + M)."""
    state, consts, tau_b = rs
    G, psum, dgsum, direct = sums
    K = Binv.shape[0]
    M = z.size - K
    sgd_example(z[:K], z[K:], noise, state, consts, out)
    a, p, dg = out[1], out[2], out[3]
    for i in range(K):
        acc = 0.0
        for k in range(K):
            acc += Binv[i, k] * a[k]
        coef[i] = acc
        psum[i] += p[i]
        dgsum[i] += dg[i]
        for c in range(K):
            G[i, c] += a[i] * z[c]
    idx = 0
    for i in range(K):
        for k in range(i, K):
            direct[idx] += coef[i] * z[k] + coef[k] * z[i] + tau_b * coef[i] * coef[k]
            idx += 1
    for i in range(K):
        for n in range(M):
            direct[idx] += coef[i] * z[K + n]
            idx += 1


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _finish(Q, R, sums, mode, switches, fac, Pi, dgain, psi):
    """``psi`` (flat layout) from ``sums`` (:func:`_add_example`): the span part ``Pi``, ``dgain`` of the summed
    coefficients (:func:`symphase._natural.span_step` with the factors ``fac`` at ``Q``; it overwrites ``G`` and
    the solve's matrix) added to the direct part: ``(Pi Q)_ik + (Pi Q)_ki`` on ``Q_ik``, ``(Pi R)_in`` on
    ``R_in``, ``dgain`` on the gains. ``switches = (bn, learn, has_gain)``. False where the solve fails."""
    G, psum, dgsum, direct = sums
    bn, learn, has_gain = switches
    K, M = R.shape
    if not span_step(Q, G, psum, dgsum, mode, bn, learn, fac, Pi, dgain):
        return False
    idx = 0
    for i in range(K):
        for k in range(i, K):
            t = 0.0
            for a in range(K):
                t += Pi[i, a] * Q[a, k] + Pi[k, a] * Q[i, a]
            psi[idx] = direct[idx] + t
            idx += 1
    for i in range(K):
        for n in range(M):
            t = 0.0
            for a in range(K):
                t += Pi[i, a] * R[a, n]
            psi[idx] = direct[idx] + t
            idx += 1
    if has_gain:
        for i in range(K):
            psi[idx] = dgain[i]
            idx += 1
    return True



@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _zero_sums(sums):
    G, psum, dgsum, direct = sums
    G[:, :] = 0.0
    psum[:] = 0.0
    dgsum[:] = 0.0
    direct[:] = 0.0


@numba.njit(cache=True, nogil=True, error_model="numpy", **NO_NRT)
def natural_sde_steps(y, ka, s, n_steps, c, work):
    """``n_steps`` weak Euler steps of the preconditioned update's diffusion approximation on the flat state
    ``y`` in place (docs/model.md §14.7): ``y += f h + (h/(N b m))^(1/2) sum_{j<m} (psi(z_j) - f)`` with ``f``
    the preconditioned ODE's right-hand side (:func:`symphase._natural_ode.natural_rhs_kernel`), ``psi`` the
    per-example rate (module docstring) at ``m = c.examples`` fresh examples ``z_j ~ N(0, tau G)`` (and their
    output noise), ``h = c.dalpha``. The increment has mean ``f h`` and covariance ``D h/N``,
    ``D = Cov[psi]/b`` (:func:`natural_rate_moments`).

    The arguments are :func:`symphase._fluctuations.sde_example_steps`'s: ``ka`` the ODE's
    :data:`~symphase._kernels.KernelArgs` at ``eta``, ``s`` the RNG state (the same draws, in the same order, as
    SGD's scheme), ``c`` a :data:`NaturalSDEConsts` (``c.pre``: the preconditioner and damping), ``work`` a
    :data:`NaturalSDEWork` (:func:`natural_sde_setup` builds all three). Returns the steps done before the state
    stopped being valid (:func:`symphase._kernels.check_state`) or ``F + eps I`` (or, under BN, ``Q``) was singular
    numerically; -1 if the Gram matrix lost positive semi-definiteness. Nothing is allocated (no reference
    counting either, ``NO_NRT``): the scratch is ``work``'s.
    """
    f, psi, z, w, G, L, used = work.f, work.psi, work.z, work.w, work.G, work.L, work.used
    Qw, Rw, gw, h, qd, inv_s = work.Qw, work.Rw, work.gw, work.h, work.qd, work.inv_s
    fac, ode, sums, coef, Pi, dgain = work.fac, work.ode, work.sums, work.coef, work.Pi, work.dgain
    ones_k, ones_m, out = work.ones_k, work.ones_m, work.ex  # the committee machine: v = 1, v* = 1
    K = Rw.shape[0]
    size = y.size
    mode, damping = c.pre.mode, c.pre.damping
    par = ka.par
    bn, learn, tau = par[BN] != 0.0, par[LEARN_GAIN] != 0.0, par[TAU]
    scale = math.sqrt(c.dalpha / (c.N * c.b * c.examples))
    Binv = fac[0]
    for step in range(n_steps):
        if not natural_rhs_kernel(y, f, ka, mode, damping, ode):
            return step
        unpack_into(y, Qw, Rw, gw, c.has_gain)
        if gram_factor(Qw, Rw, ka.T, G, L, used) < 0:
            return -1
        sigma, noise_sd, _eta, _sw, consts = rate_setup(Qw, gw, par, c.b, c.has_gain, h, qd)
        for i in range(K):
            inv_s[i] = 1.0 / (sigma * math.sqrt(Qw[i, i])) if bn else 1.0
        if not step_factors(Qw, h, gw, tau, mode, damping, bn, learn, fac):
            return step
        rs = ((h, inv_s, qd, ones_k, ones_m), consts, tau / c.b)
        _zero_sums(sums)
        for _ in range(c.examples):
            draw_fields(s, L, used, sigma, w, z)
            noise = noise_sd * next_normal(s) if noise_sd > 0.0 else 0.0
            _add_example(z, noise, rs, Binv, out, coef, sums)
        if not _finish(Qw, Rw, sums, mode, (bn, learn, c.has_gain), fac, Pi, dgain, psi):
            return step
        for p in range(size):
            y[p] += f[p] * c.dalpha + scale * (psi[p] - c.examples * f[p])
        if check_state(y, ka, c.blowup, c.psd_tol) != OK:
            return step
    return n_steps


#: Return codes of :func:`natural_rate_moments`.
MOMENTS_OK, NOT_GRAM, SINGULAR = 0, 1, 2


def natural_moment_workspace(model) -> NaturalMomentWork:
    """The work arrays of :func:`natural_rate_moments` for ``model``: SGD's
    (:func:`symphase._fluctuations.moment_workspace`) and the preconditioner's."""
    size, K = model.layout.size, model.K
    fac = step_work(K, model.learns_gain)
    return NaturalMomentWork(*moment_workspace(model), inv_s=np.ones(K), fac=fac, saved=(fac[1].copy(), fac[9].copy()),
                             sums=_sums(K, size), coef=np.zeros(K), Pi=np.zeros((K, K)), dgain=np.zeros(K))


@numba.njit(cache=True, nogil=True, **NO_NRT)
def _copy2(src, dst):
    """``dst[:, :] = src`` for two matrices of one shape, as a loop: the slice assignment would compile
    Numba's shape-mismatch message (string formatting, about 4 s of the first compile)."""
    for i in range(src.shape[0]):
        for j in range(src.shape[1]):
            dst[i, j] = src[i, j]


@numba.njit(cache=True, nogil=True, error_model="numpy", **NO_NRT)
def natural_rate_at(z, noise, Q, R, rc, rw, psi):
    """The per-example rate ``psi`` (flat layout; module docstring) of the preconditioned update at the raw
    fields ``z`` (K + M) and the output ``noise``, at the state ``(Q, R)`` whose factors of ``(F + eps I)^-1``
    are in ``rw``: ``rc = (rs, mode, switches)`` with ``rs = (state, consts, tau/b)`` SGD's per-example kernel's
    state and constants at ``lr = eta`` and ``switches = (bn, learn, has_gain)``; ``rw = (fac, saved, sums, coef,
    Pi, dgain, out)``, ``fac`` from :func:`symphase._natural.step_factors` at ``(Q, g)`` and ``saved`` copies of its
    solve's two matrices (restored here: the solve overwrites them). False where the solve fails."""
    rs, mode, switches = rc
    fac, saved, sums, coef, Pi, dgain, out = rw
    _copy2(saved[0], fac[1])
    _copy2(saved[1], fac[9])
    _zero_sums(sums)
    _add_example(z, noise, rs, fac[0], out, coef, sums)
    return _finish(Q, R, sums, mode, switches, fac, Pi, dgain, psi)


@numba.njit(cache=True, nogil=True, error_model="numpy", **NO_NRT)
def natural_rate_moments(Q, R, g, T, par, b, has_gain, pre, points, weights, work):
    """Cubature of the first two moments of the preconditioned per-example rate ``psi`` (:func:`natural_rate_at`)
    over the fields ``z ~ N(0, tau G)`` and the output noise: ``work.mean = E[psi]``, ``work.second =
    E[psi psi^T]`` (flat layout), as :func:`symphase._fluctuations.rate_moments_with` for SGD (``points``,
    ``weights``: a rule for the standard normal in at least ``rank G`` (+ 1 with output noise) dimensions).
    ``pre`` a :data:`Preconditioning`, ``work`` a :data:`NaturalMomentWork`. Returns :data:`MOMENTS_OK`,
    :data:`NOT_GRAM` (``[[Q, R], [R^T, T]]`` not positive semi-definite, or too few dimensions) or
    :data:`SINGULAR` (``F + eps I``, or under BN ``Q``, singular numerically). Nothing is allocated (no reference
    counting either, ``NO_NRT``): the scratch is ``work``'s."""
    mean, second, psi, z, G, L, used = work.mean, work.second, work.psi, work.z, work.G, work.L, work.used
    h, inv_s, qd, fac, saved, sums = work.h, work.inv_s, work.qd, work.fac, work.saved, work.sums
    coef, Pi, dgain, out = work.coef, work.Pi, work.dgain, work.ex
    K = R.shape[0]
    mean[:] = 0.0
    second[:, :] = 0.0
    rank = gram_factor(Q, R, T, G, L, used)
    if rank < 0:
        return NOT_GRAM
    sigma, noise_sd, _eta, _sw, consts = rate_setup(Q, g, par, b, has_gain, h, qd)
    bn, learn, tau = par[BN] != 0.0, par[LEARN_GAIN] != 0.0, par[TAU]
    for i in range(K):
        inv_s[i] = 1.0 / (sigma * math.sqrt(Q[i, i])) if bn else 1.0
    dims = rank + (1 if noise_sd > 0.0 else 0)
    if points.shape[1] < dims:
        return NOT_GRAM
    if not step_factors(Q, h, g, tau, pre.mode, pre.damping, bn, learn, fac):
        return SINGULAR
    _copy2(fac[1], saved[0])
    _copy2(fac[9], saved[1])
    dirs = used_columns(used, rank, work.cols)
    rs = ((h, inv_s, qd, work.ones_k, work.ones_m), consts, tau / b)
    rc = (rs, pre.mode, (bn, learn, has_gain))
    rw = (fac, saved, sums, coef, Pi, dgain, out)
    for pt in range(points.shape[0]):
        noise = cubature_fields(L, dirs, sigma, noise_sd, points[pt], z)
        if not natural_rate_at(z, noise, Q, R, rc, rw, psi):
            return SINGULAR
        add_moments(weights[pt], psi, mean, second)
    symmetrize_upper(second)
    return MOMENTS_OK


def natural_diffusion(model, y, eta, *, rule=None, T=None):
    """The diffusion matrix ``D = Cov[psi]/b`` of the preconditioned update at the flat state ``y`` (so that
    ``Cov[y(alpha + d alpha) | y] = D d alpha / N``) and the rule's ``E[psi]`` (the preconditioned ODE's
    right-hand side, up to the cubature's error), docs/model.md §14.7; :func:`symphase._fluctuations.diffusion`
    for SGD.

    Parameters
    ----------
    model : Committee
        The committee machine with ``preconditioner="natural"`` or ``"unitwise"``.
    y : ndarray
        A flat state (``model.layout``).
    eta : float
        The learning rate (> 0).
    rule : tuple, optional
        ``(points, weights)`` for the standard normal in ``K + M + 1`` dimensions (default
        :func:`symphase._fluctuations.normal_rule`: 2^16 scrambled Sobol points, deterministic).
    T : ndarray, optional
        Teacher overlaps other than the model's.

    Returns
    -------
    D : ndarray (size, size)
    drift : ndarray (size,)

    Raises
    ------
    ValueError
        Another preconditioner or model; overlaps that are not a positive semi-definite Gram matrix.
    SymphaseError
        ``F + eps I`` (under BN: ``Q``) is singular numerically at ``y``.
    """
    check_supported(model, "natural_diffusion")
    eta = check_real("eta", eta, positive=True)
    system = model.system
    Q, R, g = system.layout.unpack(np.asarray(y, dtype=float))
    Q, R = np.ascontiguousarray(Q), np.ascontiguousarray(R)
    g = np.ones(model.K) if g is None else np.ascontiguousarray(g)
    Tm = system.T if T is None else np.ascontiguousarray(T, dtype=float)
    P, w = normal_rule(model.K + model.M + 1) if rule is None else rule
    work = natural_moment_workspace(model)
    code = natural_rate_moments(Q, R, g, Tm, system.params(eta), model.batch, model.has_bn, preconditioning(model),
                                np.ascontiguousarray(P), np.ascontiguousarray(w), work)
    if code == NOT_GRAM:
        raise ValueError("y: the overlaps are not a positive semi-definite Gram matrix [[Q, R], [R^T, T]]")
    if code == SINGULAR:
        raise SymphaseError(f"natural_diffusion: F + eps I is singular numerically at Q = {Q.tolist()} "
                            f"(damping {model.damping:g})")
    mean, second = work.mean, work.second
    D = (second - np.outer(mean, mean)) / model.batch
    return 0.5 * (D + D.T), mean.copy()
