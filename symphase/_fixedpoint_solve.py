"""Solving for the symmetric fixed point (the plateau) of the order-parameter ODEs (docs/model.md §4-5).

:func:`symmetric_fixed_point` starts from the closed form where one exists
(:func:`closed_form`), polishes the root on the symmetric subspace with
scipy's hybrid method and complex-step Newton steps (:func:`_newton`), and
wraps it in a :class:`~symphase.FixedPoint`. A solver that does not converge
raises :class:`~symphase.SymphaseError`; input that has no symmetric fixed
point raises ``ValueError``.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import optimize

from ._fixedpoint import FixedPoint, rates, symmetric_state
from ._model import STEP, check_model, min_gram_eigenvalue, rule_for
from ._results import SymphaseError
from ._validate import NORM_RANGE, check_real


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
    model = check_model(model).require_closed_form("symmetric_fixed_point")
    rule = rule_for(model, "symmetric_fixed_point", "ode")
    eta = check_real("eta", eta, nonnegative=True)
    if rule.name != "sgd" and eta != 0:
        raise ValueError(f"eta: the fixed point of preconditioner={model.preconditioner!r} is analysed at eta = 0 "
                         f"(SGD's, where the gradient vanishes; its Jacobian per unit eta), got eta={eta!r} "
                         f"(docs/model.md §14.6)")
    if model.K != model.M:
        raise ValueError(f"model: the symmetric fixed point needs K = M (a student as large as the teacher); "
                         f"got K={model.K}, M={model.M}")
    if not np.array_equal(model.T, np.eye(model.M)):
        raise ValueError("model: the symmetric fixed point needs an orthonormal teacher, T = I; got another T")
    if model.K < 2:
        raise ValueError(f"model: the symmetric phase needs K >= 2 hidden units, got K={model.K}")
    if not np.all(model.v_teacher == model.v_teacher[0]):
        raise ValueError(f"model: the symmetric fixed point needs a teacher with equal second-layer weights, "
                         f"got v_teacher={model.v_teacher.tolist()}")
    if model.weight_decay and model.has_bn:
        raise ValueError("model: weight decay under batch norm shrinks the norm Q_ii without bound (BN is "
                         "blind to it): there is no fixed point")
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
    """Residual on the R = S, C = Q subspace, unknowns x = (Q, R[, g][, v]) (v: a learned second layer,
    equal for every unit, docs/model.md §13)."""
    lay = model.layout
    iQ, iR = lay.Q_index[0, 0], lay.R_index[0, 0]
    iv = lay.v_index[:1]

    if not model.has_bn:
        def f(x):
            out = rates(model, symmetric_state(model, x[0], x[0], x[1], x[1], v=x[2] if model.learns_v else None),
                        eta)
            return np.concatenate([[out[iQ], out[iR]], out[iv]])
        return f
    ig = lay.g_index[0]
    if model.gain == "learned":
        def f(x):
            Q, R, g = x[:3]
            out = rates(model, symmetric_state(model, Q, Q, R, R, g, v=x[3] if model.learns_v else None), eta)
            return np.concatenate([[out[iR], out[ig], (Q * g * g - 1.0) if norm is None else (Q - norm)], out[iv]])
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


def others_of(plateau):
    """The other symmetric fixed points of a plateau point (:attr:`FixedPoint.others`), found by
    :func:`_others` at its model, learning rate and norm."""
    return _others(plateau.model, plateau.eta, plateau.norm, plateau)


def _others(model, eta, norm, plateau):
    """Symmetric fixed points off R = S, C = Q, from a small grid of starts on (Q, C, R, S[, g][, v])
    (``v``: a learned second layer, one more unknown started at the plateau's)."""
    lay = model.layout
    iQ, iC = lay.Q_index[0, 0], lay.Q_index[0, 1]
    iR, iS = lay.R_index[0, 0], lay.R_index[0, 1]
    bn = model.has_bn
    learned = bn and model.gain == "learned"
    lv = model.learns_v

    def unpack(x):
        g = x[4] if learned else 1.0
        return x[0], x[1], x[2], x[3], g

    def state(x):
        Q, C, R, S, g = unpack(x)
        return symmetric_state(model, Q, C, R, S, g if bn else None, v=x[-1] if lv else None)

    def f(x):
        Q, _C, _R, _S, g = unpack(x)
        out = rates(model, state(x), eta)
        vres = [out[lay.v_index[0]]] if lv else []
        if not bn:
            return np.array([out[iQ], out[iC], out[iR], out[iS]] + vres)
        nrm = (Q * g * g - 1.0) if (norm is None and learned) else (Q - (1.0 if norm is None else norm))
        res = [out[iC], out[iR], out[iS], nrm]
        if learned:
            res.append(out[lay.g_index[0]])
        return np.array(res + vres)

    Q0 = plateau.Q[0, 0]
    g0 = 1.0 if plateau.g is None else plateau.g[0]
    v0 = [float(plateau.v[0])] if lv else []
    starts = []
    for r in (1.0, 0.7, 0.4):
        for s in (0.0, 0.2):
            R = r * math.sqrt(Q0) if bn else r
            S = s * math.sqrt(Q0) if bn else s
            Qs = Q0 if bn else r * r + (model.K - 1) * s * s + 0.05
            Cs = 2 * r * s * Qs / max(1e-9, r * r + s * s) * 0.5
            x = [Qs, Cs, R, S] + ([g0] if learned else []) + v0
            starts.append(x)
    # students (nearly) coinciding, overlapping all teachers equally
    r = math.sqrt(Q0 / (model.tau * model.K)) if bn else 1 / math.sqrt(model.K)
    Qs = Q0 if bn else 1.0 / model.K
    starts.append([Qs, Qs * (1 - 1e-3), r, r] + ([g0] if learned else []) + v0)
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
        Q, _C, R, S, _g = unpack(x)
        y = state(x)
        if np.max(np.abs(y - plateau.state)) < 1e-5 * max(1.0, Q):
            continue  # the plateau itself
        Qm, Rm, gm = lay.unpack(y)
        vm = lay.unpack_v(y)
        if min_gram_eigenvalue(Qm, Rm, model.T) < -1e-10 or (bn and Q <= 0):
            continue
        if any(np.allclose(y, o.state, atol=1e-8) for o in found):
            continue
        fp = FixedPoint(model, Qm, Rm, gm, eta, kind="symmetric", v=vm)
        if np.max(np.abs(fp.residual())) < 1e-11 * max(1.0, float(np.max(np.abs(y)))):
            found.append(fp)
    return found


def _fixed_gain_plateau(model, eta, norm):
    """BN with a fixed gain g = 1: the plateau reached from small random weights has
    R = S but C < Q (the effective norm g^2 = 1 is pinned, the students cannot
    coincide at the effective plateau of the learned gain). Unknowns (Q, C, R[, v])."""
    K = model.K
    lay = model.layout
    iC, iR = lay.Q_index[0, 1], lay.R_index[0, 0]
    iv = lay.v_index[:1]
    Qn = 1.0 if norm is None else norm

    def f(x):
        v = x[3] if model.learns_v else None
        out = rates(model, symmetric_state(model, x[0], x[1], x[2], x[2], 1.0, v=v), eta)
        return np.concatenate([[out[iC], out[iR], x[0] - Qn], out[iv]])

    best = None
    for c0 in (0.0, 0.05, 0.2, 0.4, 0.6, 0.8):
        for r0 in (0.7, 0.5, 0.9, 0.3):
            x0 = [Qn, c0 * Qn, r0 * math.sqrt(Qn / K)] + ([1.0] if model.learns_v else [])
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
    v = best[3] if model.learns_v else None
    y = symmetric_state(model, best[0], best[1], best[2], best[2], 1.0, v=v)
    Qm, Rm, gm = lay.unpack(y)
    return _finish(model, eta, norm, Qm, Rm, gm, None if v is None else np.full(K, v))


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
        ODEs; rates and spectra per unit ``eta``). It is the one default of ``eta``
        in the API (docs/vocabulary.md): the plateau is defined there for every rule
        (under BN no fixed point exists at ``eta > 0``), and it is the paper's. ``eta > 0`` keeps the
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
    # start: the committee machine's closed form (it depends on K, tau and the rule only), and v = 1
    # for a learned second layer (docs/model.md §13: one more unknown, equal for every unit)
    cf = closed_form(model, norm)
    extra = [1.0] if model.learns_v else []
    if not model.has_bn:
        x0 = [cf[0], cf[1]] + extra
        if eta > 0:  # continue from eta = 0 in small steps (the eta^2 terms move the point)
            x = np.array(x0)
            f0 = _residual_plateau(model, 0.0, None)
            x = _newton(f0, x)
            for e in np.linspace(0, eta, min(200, max(9, math.ceil(eta / 0.005) + 1)))[1:]:
                fe = _residual_plateau(model, float(e), norm)
                with np.errstate(all="ignore"):
                    x = _newton(fe, x)
                    if not np.max(np.abs(fe(x))) < 1e-11:  # the branch ends here
                        break
            x0 = x
    else:
        x0 = list(cf) + extra
    with np.errstate(all="ignore"):
        x = _newton(f, x0)
        r = f(x)
    if not (np.all(np.isfinite(x)) and np.max(np.abs(r)) < 1e-11):
        who = "eta" if eta > 0 else "model"
        raise SymphaseError(f"{who}: no symmetric fixed point with R = S, C = Q found for {model.describe()} at "
                         f"eta={eta:g} (residual {np.max(np.abs(r)):.3g}; at eta > 0 the branch from eta -> 0 "
                         f"may end below this eta)")
    Q, R = x[0], x[1]
    g = x[2] if model.has_bn else None
    v = x[-1] if model.learns_v else None
    y = symmetric_state(model, Q, Q, R, R, g, v=v)
    Qm, Rm, gm = model.layout.unpack(y)
    return _finish(model, eta, norm, Qm, Rm, gm, None if v is None else np.full(model.K, v))


def _finish(model, eta, norm, Qm, Rm, gm, v=None):
    y = model.layout.pack(Qm, Rm, gm, v)
    if min_gram_eigenvalue(Qm, Rm, model.T) < -1e-10:
        raise SymphaseError(f"eta: the symmetric fixed point of {model.describe()} at eta={eta:g} is not a valid state "
                         f"(Q, R are no Gram matrix of real weights): the branch from eta -> 0 ends below this eta")
    fp = FixedPoint(model, Qm, Rm, gm, eta, norm=norm, v=v, find_others=others_of)
    res = fp.residual()
    scale = max(1.0, float(np.max(np.abs(y))))
    if not np.max(np.abs(res)) < 1e-12 * scale:
        raise SymphaseError(f"model: the symmetric point of {model.describe()} at eta={eta:g} is not a fixed point "
                         f"of the full ODE (max |dy/dalpha| = {np.max(np.abs(res)):.3g})")
    return fp
