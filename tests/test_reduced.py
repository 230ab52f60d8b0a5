"""The reduced symmetric ODEs, eps_g and the paper's Hessian (symphase.reduced, docs/model.md §4).

Reference values come from the full ODE (symphase.rhs, symphase.generalization_error)
on symmetric states, from closed forms of docs/model.md §4, and from finite differences.
"""
import math

import numpy as np
import pytest
from scipy import optimize

import symphase as sp
from symphase._reduced import (
    paper_fixed_point,
    reduced_generalization_error,
    reduced_gradient,
    reduced_hessian,
    reduced_rhs,
)

RULES = [None, "paper", "exact"]


def symmetric_state(K, rng):
    """A realisable symmetric state: J_i = a B_i + b sum_{n != i} B_n + c v_i + d v0
    (v orthonormal, off the teachers)."""
    a, b, c, d = rng.uniform(0.2, 0.8), rng.uniform(-0.3, 0.3), rng.uniform(0.1, 0.6), rng.uniform(0, 0.5)
    Q = a**2 + (K - 1) * b**2 + c**2 + d**2
    C = 2 * a * b + (K - 2) * b**2 + d**2
    return Q, C, a, b


def full_matrices(K, Q, C, R, S, g):
    E = np.eye(K)
    return C + (Q - C) * E, S + (R - S) * E, None if g is None else np.full(K, g)


@pytest.mark.parametrize("bn", RULES, ids=["plain", "bn-paper", "bn-exact"])
def test_reduced_rhs_is_the_full_ode_on_symmetric_states(bn):
    """d(Q, C, R, S, g)/dalpha equal the full ODE's dQ_ii, dQ_ik, dR_ii, dR_in, dg_i for K = 2..8, with
    eta = 0.7 (O(eta) and O(eta^2/b) terms, batch 3, output noise 0.1) and at eta -> 0 (O(eta) part).
    Tolerance: 1e-12 relative to the largest rate at the state (two evaluations of the same closed forms
    in different order; measured <= 3e-15)."""
    rng = np.random.default_rng(7)
    for K in range(2, 9):
        model = sp.Committee(K, K, bn=bn, tau=1.7, batch=3, noise=0.1)
        Q, C, R, S = symmetric_state(K, rng)
        g = rng.uniform(0.5, 1.5) if bn else None
        Qm, Rm, gm = full_matrices(K, Q, C, R, S, g)
        for eta in (0.0, 0.7):
            red = dict(reduced_rhs(model, Q, C, R, S, g, eta).items())
            dQ, dR, dg, _ = sp.rhs(model, (Qm, Rm, gm), eta or 1.0, part="full" if eta else "linear")
            full = {"Q": dQ[0, 0], "C": dQ[0, 1], "R": dR[0, 0], "S": dR[0, 1]}
            if bn:
                full["g"] = dg[0]
            assert set(red) == set(full)
            scale = max(abs(v) for v in full.values())
            for k in full:
                assert abs(red[k] - full[k]) <= 1e-12 * scale, (K, eta, k, red[k], full[k])
            # the full ODE stays on the subspace (the reduction is consistent)
            assert np.ptp(np.diag(dQ)) <= 1e-12 * scale and np.ptp(dQ[~np.eye(K, dtype=bool)]) <= 1e-12 * scale


def test_exact_rule_keeps_the_norm_at_order_eta():
    """docs/model.md §5: under the exact BN rule the O(eta) part of dQ_ii/dalpha vanishes; the norm grows only at
    O(eta^2/b), and positively. Tolerance 1e-13 relative to the other rates (rounding of a cancellation)."""
    rng = np.random.default_rng(3)
    for K in (2, 5, 9):
        model = sp.Committee(K, K, bn="exact", tau=2.0)
        Q, C, R, S = symmetric_state(K, rng)
        lin = reduced_rhs(model, Q, C, R, S, 0.8, 0.0)
        assert abs(lin.Q) <= 1e-13 * max(abs(v) for v in lin.values())
        full = reduced_rhs(model, Q, C, R, S, 0.8, 0.5)
        assert full.Q > 0


@pytest.mark.parametrize("bn", RULES, ids=["plain", "bn-paper", "bn-exact"])
def test_reduced_generalization_error_is_eq13(bn):
    """eps_g on the subspace equals symphase.generalization_error of the full matrices, K = 2..8, to 1e-13
    relative (same closed form, different summation order)."""
    rng = np.random.default_rng(11)
    for K in range(2, 9):
        model = sp.Committee(K, K, bn=bn, tau=0.6)
        Q, C, R, S = symmetric_state(K, rng)
        g = rng.uniform(0.5, 1.5) if bn else None
        ref = sp.generalization_error(model, full_matrices(K, Q, C, R, S, g))
        assert abs(reduced_generalization_error(model, Q, C, R, S, g) - ref) <= 1e-13 * abs(ref)


def test_plain_plateau_is_saad_and_sollas():
    """tau = 1: Q = C = 1/(2K-1), R = S = 1/sqrt(K(2K-1)), eps_g = (K/pi)(pi/6 - K asin(1/(2K))) (docs/model.md §4),
    to 1e-15 (R, Q) and to 1e-15 K^2 for eps_g: a difference of terms of size ~K^2 that cancel to ~1/K,
    so its rounding is relative to K^2, not to eps_g."""
    for K in range(2, 12):
        model = sp.Committee(K, K)
        fp = paper_fixed_point(model)
        assert abs(fp.Q - 1 / (2 * K - 1)) <= 1e-15 and fp.C == fp.Q
        assert abs(fp.R - 1 / math.sqrt(K * (2 * K - 1))) <= 1e-15 and fp.S == fp.R
        eg = reduced_generalization_error(model, fp.Q, fp.C, fp.R, fp.S)
        assert abs(eg - K / math.pi * (math.pi / 6 - K * math.asin(1 / (2 * K)))) <= 1e-15 * K**2


@pytest.mark.parametrize("bn", RULES, ids=["plain", "bn-paper", "bn-exact"])
@pytest.mark.parametrize("tau", [1.0, 2.5, 10.0])
def test_paper_fixed_points_are_fixed_points_at_order_eta(bn, tau):
    """The points of paper_fixed_point make the O(eta) rates vanish, for K = 2..10: the reduced equations
    (tolerance 1e-12 relative to the rates at a nearby state: rounding of cancelling terms), and, K = 2..4,
    the full ODE (symphase.rhs, the same tolerance): the two independent codes agree. At eta > 0 they are
    not fixed points: dQ/dalpha = O(eta^2/b) > 0."""
    for K in range(2, 11):
        model = sp.Committee(K, K, bn=bn, tau=tau)
        fp = paper_fixed_point(model)
        g = fp.g
        rates = reduced_rhs(model, fp.Q, fp.C, fp.R, fp.S, g, 0.0)
        ref = reduced_rhs(model, fp.Q, fp.C, 1.1 * fp.R, 0.9 * fp.S, g, 0.0)
        scale = max(abs(v) for v in ref.values())
        assert max(abs(v) for v in rates.values()) <= 1e-12 * scale, rates
        if K <= 4:
            dQ, dR, dg, _ = sp.rhs(model, full_matrices(K, fp.Q, fp.C, fp.R, fp.S, g), 1.0, part="linear")
            worst = max(np.abs(dQ).max(), np.abs(dR).max(), 0 if dg is None else np.abs(dg).max())
            assert worst <= 1e-12 * scale
        assert reduced_rhs(model, fp.Q, fp.C, fp.R, fp.S, g, 0.5).Q > 0


@pytest.mark.parametrize("K,tau", [(3, 2.5), (2, 7.0), (6, 0.5)])
def test_plain_fixed_point_closed_form_is_the_numerical_root(K, tau):
    """scipy.optimize.root of the reduced O(eta) equations on R = S, C = Q (unknowns Q, R) from a start 20%
    off lands on the closed form Q = 1/(K+(K-1)tau), R = 1/sqrt(K(K+(K-1)tau)), to 1e-10 relative (the
    root is simple; the solver stops at rounding, ~1e-15, whether or not it reports success)."""
    model = sp.Committee(K, K, tau=tau)
    fp = paper_fixed_point(model)

    def f(x):
        r = reduced_rhs(model, x[0], x[0], x[1], x[1])
        return [r.Q, r.R]

    sol = optimize.root(f, [1.2 * fp.Q, 0.8 * fp.R], tol=1e-13)
    assert max(abs(v) for v in f(sol.x)) <= 1e-14
    assert abs(sol.x[0] - fp.Q) <= 1e-10 * fp.Q and abs(sol.x[1] - fp.R) <= 1e-10 * fp.R


def central_hessian(f, x, h):
    n = len(x)
    H = np.empty((n, n))
    for j in range(n):
        for k in range(n):
            ej, ek = np.eye(n)[j] * h[j], np.eye(n)[k] * h[k]
            H[j, k] = (f(x + ej + ek) - f(x + ej - ek) - f(x - ej + ek) + f(x - ej - ek)) / (4 * h[j] * h[k])
    return H


@pytest.mark.parametrize("bn", [None, "paper"], ids=["plain", "bn"])
@pytest.mark.parametrize("K,tau", [(2, 1.0), (5, 3.0)])
def test_hessian_matches_finite_differences(bn, K, tau):
    """The exact (SymPy) Hessian of eps_g(Omega) with C = Q equals central differences of
    reduced_generalization_error(C = Q), at the paper's fixed point and at a point off it. Step 1e-4 of
    each coordinate's size: truncation ~1e-8, rounding ~1e-16/1e-8; tolerance 1e-6 relative to max |H|."""
    model = sp.Committee(K, K, bn=bn, tau=tau)
    fp = paper_fixed_point(model)
    x0 = np.array([fp.R, fp.S, fp.Q] + ([fp.g] if bn else []))
    for x in (x0, x0 * np.array([1.1, 0.7, 1.3] + ([0.9] if bn else []))):
        H, names = reduced_hessian(model, *x)
        assert names == (("R", "S", "Q", "g") if bn else ("R", "S", "Q"))
        assert H.shape == (len(x), len(x)) and np.array_equal(H, H.T)

        def f(y):
            return reduced_generalization_error(model, y[2], y[2], y[0], y[1], *(y[3:] if bn else []))

        Hfd = central_hessian(f, x, 1e-4 * np.abs(x))
        assert np.max(np.abs(H - Hfd)) <= 1e-6 * np.max(np.abs(H))
        grad, _ = reduced_gradient(model, *x)
        gfd = [(f(x + e) - f(x - e)) / (2 * e.sum()) for e in np.diag(1e-6 * np.abs(x))]
        assert np.max(np.abs(grad - gfd)) <= 1e-6 * np.max(np.abs(grad))


def paper_spectrum(K, tau, bn):
    model = sp.Committee(K, K, bn=bn, tau=tau)
    fp = paper_fixed_point(model)
    H, _ = reduced_hessian(model, fp.R, fp.S, fp.Q, fp.g)
    return np.linalg.eigvalsh(H)


def test_paper_claim_bn_shrinks_the_negative_eigenvalue_and_adds_a_near_zero_one():
    """The paper's Fig. 1 (tau = 1, K = 2..9): with BN the most negative eigenvalue of its Hessian is smaller in
    magnitude than without (by a factor > 5 here), and one BN eigenvalue is near zero: |lambda|min/|lambda|max
    < 1.5e-3, at least 10x smaller than plain's ratio. Holds for these numbers (exact spectra; the margins
    are far from rounding)."""
    for K in range(2, 10):
        p, b = paper_spectrum(K, 1.0, None), paper_spectrum(K, 1.0, "paper")
        assert p[0] < 0 and b[0] < 0 and abs(b[0]) < abs(p[0]) / 5
        rb = np.min(np.abs(b)) / np.max(np.abs(b))
        rp = np.min(np.abs(p)) / np.max(np.abs(p))
        assert rb < 1.5e-3 and rb < rp / 10


def test_finding_paper_hessian_is_not_at_a_critical_point_of_eps_g():
    """Finding: at the paper's fixed points the gradient of eps_g(Omega) with C = Q is NOT zero in (R, S, Q)
    (C = Q with R != S is not realisable by weights, so the fixed point of the ODE need not be a critical point
    in these coordinates); only its g-component vanishes (BN: dg/dalpha is gradient flow in g). The Hessian
    there is therefore coordinate-dependent also at second order. Also, the spectrum is no single-saddle
    picture: plain has 2 negative eigenvalues (tau = 1), BN 3 negative and 1 positive. Tolerances: 1e-13 for
    the zero component (rounding), O(1) margins for the rest."""
    for K in range(2, 10):
        for bn in (None, "paper"):
            model = sp.Committee(K, K, bn=bn)
            fp = paper_fixed_point(model)
            grad, _ = reduced_gradient(model, fp.R, fp.S, fp.Q, fp.g)
            assert np.min(np.abs(grad[:3])) > 0.05
            if bn:
                assert abs(grad[3]) <= 1e-13 * np.max(np.abs(grad))
        assert np.sum(paper_spectrum(K, 1.0, None) < 0) == 2
        b = paper_spectrum(K, 1.0, "paper")
        assert np.sum(b < 0) == 3 and np.sum(b > 0) == 1


def test_finding_plain_k2_hessian_is_singular_at_tau_2():
    """Finding (paper's Fig. 2, K = 2): the plain Hessian's largest eigenvalue crosses zero at tau = 2 (positive
    at tau = 1, negative for tau >= 3), so at tau = 2 plain has an (exactly, to rounding: 1e-12 relative)
    zero eigenvalue too; for tau >= 3 all plain eigenvalues are negative."""
    assert paper_spectrum(2, 1.0, None)[2] > 0.01
    e2 = paper_spectrum(2, 2.0, None)
    assert abs(e2[2]) <= 1e-12 * abs(e2[0])
    for tau in range(3, 11):
        assert paper_spectrum(2, float(tau), None)[2] < -0.05


def test_bn_eps_g_is_scale_invariant_in_omega():
    """BN: eps_g(R, S, Q, g) with C = Q depends on R/sqrt(Q), S/sqrt(Q), so grad . (R, S, 2Q, 0) = 0 everywhere
    (tolerance 1e-13 relative to |grad| |Omega|, rounding)."""
    model = sp.Committee(4, 4, bn="paper", tau=2.0)
    for x in ([1.0, 0.3, 2.0, 0.7], [0.2, -0.5, 0.9, 1.3]):
        grad, _ = reduced_gradient(model, *x)
        v = np.array([x[0], x[1], 2 * x[2], 0.0])
        assert abs(grad @ v) <= 1e-13 * np.linalg.norm(grad) * np.linalg.norm(v)


def test_bad_input():
    with pytest.raises(ValueError, match="^K must equal M"):
        reduced_rhs(sp.Committee(2, 3), 1, 0, 0.5, 0)
    with pytest.raises(ValueError, match="^T must be the identity"):
        reduced_hessian(sp.Committee(2, 2, T=2 * np.eye(2)), 0.5, 0.1, 1.0)
    bn = sp.Committee(3, 3, bn="paper")
    with pytest.raises(ValueError, match="^g must be given"):
        reduced_rhs(bn, 1, 0, 0.5, 0)
    with pytest.raises(ValueError, match="^g must be non-zero"):
        reduced_generalization_error(bn, 1, 0, 0.5, 0, 0.0)
    with pytest.raises(ValueError, match="^Q must be > 0"):
        reduced_rhs(bn, -1.0, 0, 0.5, 0, 1.0)
    with pytest.raises(ValueError, match="^g is only meaningful"):
        reduced_rhs(sp.Committee(3, 3), 1, 0, 0.5, 0, 1.0)
    with pytest.raises(ValueError, match="^eta must be"):
        reduced_rhs(sp.Committee(3, 3), 1, 0, 0.5, 0, eta=-0.1)
    with pytest.raises(ValueError, match="^R must be"):
        reduced_hessian(sp.Committee(3, 3), float("nan"), 0.1, 1.0)
    with pytest.raises(TypeError):
        paper_fixed_point("not a model")
