"""Batch-norm ODEs: the derived right-hand sides against Monte Carlo of the
actual weight update, the exact rule's scale invariance, the paper's symmetric
fixed point, eps_g under BN, and bad BN states.

Monte Carlo comparisons allow 4 standard errors of the mean (about 6e-5 chance
of a false alarm per comparison for Gaussian errors); seeds are fixed, so the
tests are deterministic. Identities that hold exactly in the equations are
checked to a few hundred float64 ulps of the compared quantities (rounding only).
"""
import numpy as np
import pytest
from conftest import random_state
from scipy.special import erf

import symphase as sp

NSE = 4.0


def phi(u):
    return erf(u / np.sqrt(2))


def dphi(u):
    return np.sqrt(2 / np.pi) * np.exp(-u**2 / 2)


# --------------------------------------------------------------------------
# 1. Monte Carlo of the weight update
# --------------------------------------------------------------------------
def weight_vectors(model, Q, R, n):
    """Student and teacher vectors in R^n (n >= K + M) with overlaps Q, R, T (Cholesky)."""
    K, M = model.K, model.M
    G = np.block([[Q, R], [R.T, model.T]])
    L = np.linalg.cholesky(G)
    W = np.zeros((K + M, n))
    W[:, :K + M] = L
    return W[:K], W[K:]


def mc_update(model, Q, R, g, N, S, rng, *, literal=False, eta=0.5, chunk=20_000):
    """Per-step changes of the order parameters under the update rules of docs/model.md §2.

    One SGD step on a minibatch of b examples, applied to weight vectors J (K x N)
    realising (Q, R, T); returns the sample means and standard errors of

    - ``lin``  = N (J_k.v_i + J_i.v_k), the O(eta) part of N dQ_ik / eta,
    - ``quad`` = N v_i.v_k, the O(eta^2) part of N dQ_ik / eta^2,
    - ``full`` = N (Q_new - Q) at learning rate ``eta`` (J_new = J + eta v formed literally),
    - ``dR``   = N (R_new - R) / eta,  ``dg`` = N (g_new - g) / eta,

    where eta v_i is the weight change of student i. ``literal=True`` draws xi in
    R^N. Otherwise the draw is exact in distribution but cheap: by rotation
    invariance of the Gaussian input, only xi's projection on span(J, B) (K + M
    Gaussian components of variance tau) and the Gram matrix of the b examples'
    orthogonal parts (a Wishart(N - K - M) matrix, drawn by Bartlett's
    decomposition) enter the new overlaps, so the vectors live in R^(K+M+b).

    Bias: ``lin``, ``dR``, ``dg`` have no 1/N terms at all (they are linear in xi
    and the rule's own algebra), so they equal the ODE averages in expectation at
    any N. ``quad`` contains xi.xi/N = tau + O(1/N) and the cross terms of the
    minibatch: its bias is O((K+M)/N) relative; with N = 10^6 that is ~1e-5 of the
    value, far below the standard errors (~1e-3 relative at S = 2e5).
    """
    K, M, b, tau = model.K, model.M, model.batch, model.tau
    sigma = np.sqrt(tau)
    r = K + M
    n = N if literal else r + b
    J, B = weight_vectors(model, Q, R, n)
    Qd = np.diag(Q)
    e = 1.0 if model.bn == "exact" else 0.0
    h = np.ones(K) if model.bn is None else g / (sigma * np.sqrt(Qd))
    sums = {}
    done = 0
    while done < S:
        s = min(chunk, S - done)
        if literal:
            xi = sigma * rng.normal(size=(s, b, n))
        else:
            xi = np.zeros((s, b, n))
            xi[:, :, :r] = sigma * rng.normal(size=(s, b, r))
            for u in range(b):  # Bartlett: lower-triangular factor of Wishart(N - r, tau I_b)
                xi[:, u, r + u] = sigma * np.sqrt(rng.chisquare(N - r - u, size=s))
                xi[:, u, r:r + u] = sigma * rng.normal(size=(s, u))
        x = xi @ J.T                                   # (s, b, K) pre-activations
        yv = xi @ B.T                                  # (s, b, M)
        u_ = h * x                                     # activation arguments (x^ under BN)
        delta = phi(yv).sum(-1) - phi(u_).sum(-1) + np.sqrt(model.noise) * rng.normal(size=(s, b))
        c = delta[..., None] * dphi(u_) * h            # Delta phi'(x^_i) g_i/(sigma sqrt Q_ii) (1 plain)
        # eta v_i = (eta/N)(1/b) sum_u c_ui (xi_u - e x_ui J_i / Q_ii)
        v = (np.einsum("sui,sun->sin", c, xi)
             - e * np.einsum("sui,sui->si", c, x)[..., None] * (J / Qd[:, None])[None]) / (N * b)
        vJ = v @ J.T                                   # (s, K, K): v_i . J_k
        Jn = J[None] + eta * v
        vals = {
            "lin": N * (vJ + np.swapaxes(vJ, 1, 2)),
            "quad": N * v @ np.swapaxes(v, 1, 2),
            "full": N * (Jn @ np.swapaxes(Jn, 1, 2) - J @ J.T),
            "dR": N * v @ B.T,
        }
        if model.bn is not None and model.gain == "learned":
            # g_i += (eta/N)(1/b) sum_u Delta phi'(x^_i) x_i/(sigma sqrt Q_ii)   (docs/model.md §2)
            vals["dg"] = (delta[..., None] * dphi(u_) * x / (sigma * np.sqrt(Qd))).mean(1)
        for key, val in vals.items():
            s1, s2 = sums.get(key, (0.0, 0.0))
            sums[key] = (s1 + val.sum(0), s2 + (val**2).sum(0))
        done += s
    out = {}
    for key, (s1, s2) in sums.items():
        mean = s1 / S
        var = (s2 / S - mean**2) * S / (S - 1)
        out[key] = (mean, np.sqrt(np.maximum(var, 0) / S))
    return out


def assert_within(name, mc, theory):
    """|MC mean - theory| <= 4 SE, plus 1e-13 of the scale for float64 rounding: some
    quantities vanish identically in every sample (the exact rule's O(eta) dQ_ii),
    where the SE is itself rounding noise."""
    mean, se = mc
    scale = max(1.0, float(np.abs(theory).max()))
    z = np.abs(mean - theory) / (se + 1e-13 * scale)
    assert np.all(z <= NSE), f"{name}: MC {mean} vs theory {theory} (SE {se}); |z| max {z.max():.2f}"
    return z


CASES = [
    dict(bn=None), dict(bn="paper"), dict(bn="exact"),
    dict(bn="exact", batch=3), dict(bn="paper", gain="fixed", batch=2),
]


@pytest.mark.parametrize("kw", CASES, ids=lambda kw: "-".join(f"{v}" for v in kw.values()))
def test_rhs_equals_monte_carlo_of_the_weight_update(kw):
    """Every average of the right-hand side (O(eta) and O(eta^2/b) parts of dQ, dR,
    dg, and the full rate at eta = 0.5) equals the mean change of the overlaps under
    the update rule, at N = 10^6, within 4 standard errors."""
    rng = np.random.default_rng(8)
    model = sp.Committee(2, 3, tau=1.5, noise=0.2, T=np.diag([1.0, 0.7, 1.3]), **kw)
    Q, R, g = random_state(model, rng)
    eta = 0.5
    mc = mc_update(model, Q, R, g, N=10**6, S=200_000, rng=rng, eta=eta)
    lin = sp.rhs(model, (Q, R, g), 1.0, part="linear")
    quad = sp.rhs(model, (Q, R, g), 1.0, part="quadratic")
    full = sp.rhs(model, (Q, R, g), eta)
    iu = np.triu_indices(model.K)
    assert_within("dQ O(eta)", (mc["lin"][0][iu], mc["lin"][1][iu]), lin[0][iu])
    assert_within("dQ O(eta^2/b)", (mc["quad"][0][iu], mc["quad"][1][iu]), quad[0][iu])
    assert_within("dQ full", (mc["full"][0][iu], mc["full"][1][iu]), full[0][iu])
    assert_within("dR", mc["dR"], lin[1])
    np.testing.assert_array_equal(quad[1], 0.0)  # R is linear in the weights: no eta^2 term
    if model.bn is not None and model.gain == "learned":
        assert_within("dg", mc["dg"], lin[2])
    elif model.bn is not None:
        np.testing.assert_array_equal(full[2], 0.0)


@pytest.mark.parametrize("bn", ["paper", "exact"])
def test_monte_carlo_with_literal_inputs_in_R_N(bn):
    """The same check with xi drawn in R^N (N = 200): the O(eta) rates dQ, dR, dg
    have no 1/N bias, so they must agree within 4 SE at this small N too."""
    rng = np.random.default_rng(88)
    model = sp.Committee(2, 2, bn=bn, tau=0.7)
    Q, R, g = random_state(model, rng)
    mc = mc_update(model, Q, R, g, N=200, S=40_000, rng=rng, literal=True, chunk=5_000)
    lin = sp.rhs(model, (Q, R, g), 1.0, part="linear")
    iu = np.triu_indices(model.K)
    assert_within("dQ O(eta)", (mc["lin"][0][iu], mc["lin"][1][iu]), lin[0][iu])
    assert_within("dR", mc["dR"], lin[1])
    assert_within("dg", mc["dg"], lin[2])


def test_monte_carlo_tells_the_two_rules_apart():
    """The check can fail: the exact rule's simulated dR (and O(eta) dQ) are many
    standard errors away from the paper rule's equations, because the dropped
    gradient term contributes to dR at the same order (docs/model.md §2)."""
    rng = np.random.default_rng(9)
    exact = sp.Committee(2, 3, bn="exact", tau=1.5)
    Q, R, g = random_state(exact, rng)
    mc = mc_update(exact, Q, R, g, N=10**6, S=50_000, rng=rng)
    lin_paper = sp.rhs(exact.with_(bn="paper"), (Q, R, g), 1.0, part="linear")
    z = np.abs(mc["dR"][0] - lin_paper[1]) / mc["dR"][1]
    assert z.max() > 10 * NSE, z
    zq = np.abs(np.diag(mc["lin"][0]) - np.diag(lin_paper[0])) / np.diag(mc["lin"][1])
    assert zq.max() > 10 * NSE, zq


# --------------------------------------------------------------------------
# 2. The exact rule: scale invariance
# --------------------------------------------------------------------------
@pytest.mark.parametrize("K, M", [(1, 1), (2, 3), (4, 2), (5, 5)])
@pytest.mark.parametrize("gain", ["learned", "fixed"])
def test_exact_rule_norm_does_not_change_at_order_eta(K, M, gain):
    """O(eta) part of dQ_ii/dalpha is 0 (rounding: 1e-13 of the scale of the other rates)."""
    rng = np.random.default_rng(K * 10 + M)
    model = sp.Committee(K, M, bn="exact", gain=gain, tau=1.7, noise=0.1)
    for _ in range(3):
        Q, R, g = random_state(model, rng)
        dQ, dR, _, _ = sp.rhs(model, (Q, R, g), 0.8, part="linear")
        scale = max(np.abs(dQ).max(), np.abs(dR).max())
        assert np.abs(np.diag(dQ)).max() <= 1e-13 * scale
        # not so for the paper rule (the check can fail): there d(Q_ii)/dalpha = d(g_i^2)/dalpha at O(eta)
        dQp, _, dgp, _ = sp.rhs(model.with_(bn="paper", gain="learned"), (Q, R, g), 0.8, part="linear")
        assert np.abs(np.diag(dQp)).max() > 1e-3 * scale
        np.testing.assert_allclose(np.diag(dQp), 2 * g * dgp, rtol=1e-12, atol=1e-14 * scale)


@pytest.mark.parametrize("c", [0.3, 2.5])
def test_exact_rule_is_invariant_under_J_to_cJ_and_eta_to_c2_eta(c):
    """J -> cJ, eta -> c^2 eta (gain frozen): dQ -> c^2 dQ, dR -> c dR at every state,
    and the trajectories map onto each other: Q(alpha) -> c^2 Q(alpha), R -> c R.

    RK4 with a fixed step is equivariant under this linear rescaling, so the
    integrated trajectories agree to rounding (rtol 1e-10). The plain rule is not
    invariant (the check can fail)."""
    rng = np.random.default_rng(21)
    model = sp.Committee(3, 2, bn="exact", gain="fixed", tau=1.3, batch=2)
    Q, R, g = random_state(model, rng)
    eta = 0.7
    dQ, dR, _dg, _ = sp.rhs(model, (Q, R, g), eta)
    dQc, dRc, dgc, _ = sp.rhs(model, (c**2 * Q, c * R, g), c**2 * eta)
    np.testing.assert_allclose(dQc, c**2 * dQ, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dRc, c * dR, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(dgc, 0.0)
    alphas = np.linspace(0, 20, 11)
    r1 = sp.integrate(model, eta, 20, start=(Q, R, g), method="rk4", dt=0.02, alphas=alphas).raise_for_status()
    r2 = sp.integrate(model, c**2 * eta, 20, start=(c**2 * Q, c * R, g), method="rk4", dt=0.02,
                      alphas=alphas).raise_for_status()
    np.testing.assert_allclose(r2.Q, c**2 * r1.Q, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(r2.R, c * r1.R, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(r2.eg, r1.eg, rtol=1e-10, atol=1e-14)
    assert np.abs(r1.Q[-1] - r1.Q[0]).max() > 1e-2  # it actually moved
    plain = sp.Committee(3, 2, tau=1.3)
    dQp, _, _, _ = sp.rhs(plain, (Q, R), eta)
    dQpc, _, _, _ = sp.rhs(plain, (c**2 * Q, c * R), c**2 * eta)
    assert not np.allclose(dQpc, c**2 * dQp, rtol=1e-3)


def normalized_rates(model, Q, R, g, eta):
    """d/dalpha of q_ik = Q_ik/sqrt(Q_ii Q_kk) and r_in = R_in/sqrt(Q_ii)."""
    dQ, dR, _, _ = sp.rhs(model, (Q, R, g), eta)
    n = np.sqrt(np.diag(Q))
    dlog = np.diag(dQ) / (2 * np.diag(Q))  # d ln n_i
    q = Q / np.outer(n, n)
    dq = dQ / np.outer(n, n) - q * (dlog[:, None] + dlog[None, :])
    dr = dR / n[:, None] - (R / n[:, None]) * dlog[:, None]
    return dq, dr


@pytest.mark.parametrize("gain", ["learned", "fixed"])
def test_exact_rule_normalized_overlaps_see_the_norm_only_through_eta_eff(gain):
    """With q, r, g fixed, the rates of the normalized overlaps depend on the norms
    Q_ii only through eta_i = eta g_i^2/(sigma^2 Q_ii):

    - scaling the norm of one unit i by lam (its q, r kept) at eta gives the same dr_in
      as the unscaled state at eta/lam, and leaves every other unit's dr_jn unchanged;
    - scaling all norms by lam at eta gives the dq, dr of the unscaled state at eta/lam.

    Float64 rounding only: rtol 1e-11. The paper rule shares the property (it is
    scale-equivariant too; what sets the exact rule apart is that its Q_ii, hence eta_i,
    is constant at O(eta)); the plain rule fails it (the check can fail).
    """
    rng = np.random.default_rng(5)
    model = sp.Committee(3, 2, bn="exact", gain=gain, tau=2.0, batch=2, noise=0.05)
    Q, R, g = random_state(model, rng)
    eta, lam, i = 0.6, 3.7, 1
    s = np.ones(model.K)
    s[i] = np.sqrt(lam)
    Qs, Rs = Q * np.outer(s, s), R * s[:, None]
    _dq0, dr0 = normalized_rates(model, Q, R, g, eta)
    _dq1, dr1 = normalized_rates(model, Qs, Rs, g, eta)
    _, dr_ref = normalized_rates(model, Q, R, g, eta / lam)
    np.testing.assert_allclose(dr1[i], dr_ref[i], rtol=1e-11, atol=1e-14)
    others = [j for j in range(model.K) if j != i]
    np.testing.assert_allclose(dr1[others], dr0[others], rtol=1e-11, atol=1e-14)
    assert not np.allclose(dr1[i], dr0[i], rtol=1e-4)  # the norm does matter, through eta_i
    dq2, dr2 = normalized_rates(model, lam * Q, np.sqrt(lam) * R, g, eta)
    dq_ref, dr_ref2 = normalized_rates(model, Q, R, g, eta / lam)
    np.testing.assert_allclose(dq2, dq_ref, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(dr2, dr_ref2, rtol=1e-11, atol=1e-14)
    # The paper rule shares this property (h_i/sqrt(Q_ii) = g_i/(sigma Q_ii) there too) ...
    paper = model.with_(bn="paper")
    _, dr1p = normalized_rates(paper, Qs, Rs, g, eta)
    _, drp_ref = normalized_rates(paper, Q, R, g, eta / lam)
    np.testing.assert_allclose(dr1p[i], drp_ref[i], rtol=1e-11, atol=1e-14)
    # ... the plain rule does not (the check can fail): its fields see the norm itself.
    plain = sp.Committee(3, 2, tau=2.0, batch=2, noise=0.05)
    _, dr1q = normalized_rates(plain, Qs, Rs, None, eta)
    _, drq_ref = normalized_rates(plain, Q, R, None, eta / lam)
    assert not np.allclose(dr1q[i], drq_ref[i], rtol=1e-4)


# --------------------------------------------------------------------------
# 3. The paper's symmetric fixed point
# --------------------------------------------------------------------------
def paper_fixed_point(K, tau):
    A = K + (K - 1) * tau
    Q, R, g = A / tau, np.sqrt(A / (tau * K)), np.sqrt(tau / A)
    return np.full((K, K), Q), np.full((K, K), R), np.full(K, g)


@pytest.mark.parametrize("bn", ["paper", "exact"])
def test_paper_symmetric_fixed_point(bn):
    """R* = S* = sqrt((K+(K-1)tau)/(tau K)), Q* = C* = (K+(K-1)tau)/tau, g* = sqrt(tau/(K+(K-1)tau))
    (docs/model.md §4): dR, dS, dg -- and dQ, dC too -- vanish as eta -> 0 for K = 2..9,
    tau = 1..10, under both rules (rounding: |rate| < 1e-13 against O(0.1) rates
    nearby). It is a valid Gram matrix, on the boundary: Q* = K R*^2 (all J_i equal)."""
    worst = 0.0
    for K in range(2, 10):
        for tau in range(1, 11):
            model = sp.Committee(K, K, bn=bn, tau=float(tau))
            Q, R, g = paper_fixed_point(K, tau)
            dQ, dR, dg, _ = sp.rhs(model, (Q, R, g), 1.0, part="linear")
            worst = max(worst, np.abs(dQ).max(), np.abs(dR).max(), np.abs(dg).max())
            Gram = np.block([[Q, R], [R.T, np.eye(K)]])
            ev = np.linalg.eigvalsh(Gram)
            assert ev[0] >= -1e-12 * ev[-1]
            assert np.sum(ev > 1e-9 * ev[-1]) == K  # rank K: the K students coincide
    assert worst < 1e-13, worst
    # a nearby symmetric point is not fixed (the check can fail)
    model = sp.Committee(3, 3, bn=bn, tau=2.0)
    Q, R, g = paper_fixed_point(3, 2.0)
    dQ, dR, dg, _ = sp.rhs(model, (Q, 0.9 * R, g), 1.0, part="linear")
    assert np.abs(dR).max() > 1e-3


def test_paper_fixed_point_is_a_family_and_Q_minus_g2_is_conserved():
    """The paper imposes Q = 1/g^2 to pick its fixed point; the equations do not need it:
    any norm Q = C = lam (R/sqrt Q and g = g* kept) is fixed as well. And the paper rule
    conserves Q_ii - g_i^2 at O(eta) (checked by integrating at eta = 1e-3, b = 10^4,
    where the O(eta^2/b) drift is ~1e-10): from Q_ii = g_i = 1 the small-eta dynamics keeps
    Q_ii = g_i^2, not Q_ii = 1/g_i^2."""
    K, tau = 3, 2.0
    model = sp.Committee(K, K, bn="paper", tau=tau)
    Q, R, g = paper_fixed_point(K, tau)
    for lam in (0.3, 1.0, 4.0):
        Ql, Rl = Q * lam / Q[0, 0], R * np.sqrt(lam / Q[0, 0])
        rates = sp.rhs(model, (Ql, Rl, g), 1.0, part="linear")
        assert max(np.abs(x).max() for x in rates if x is not None) < 1e-13
    m = sp.Committee(2, 2, bn="paper", batch=10_000)
    rng = np.random.default_rng(3)
    J = rng.normal(size=(2, 500)) / np.sqrt(500)
    B = rng.normal(size=(2, 500)) / np.sqrt(500)
    B = np.linalg.qr(B.T)[0].T
    Q0, R0 = J @ J.T, J @ B.T
    res = sp.integrate(m, 1e-3, 2000.0, start=(Q0, R0, np.ones(2))).raise_for_status()
    drift = np.diagonal(res.Q, axis1=1, axis2=2) - res.g**2 - (np.diag(Q0) - 1.0)
    assert np.abs(drift).max() < 1e-6, np.abs(drift).max()
    assert np.abs(res.g[-1] - 1).max() > 1e-2  # g did move


# --------------------------------------------------------------------------
# 4. eps_g under BN
# --------------------------------------------------------------------------
def test_bn_eg_equals_plain_eg_at_normalized_overlaps(rng):
    """Fixed gain g = 1, tau = 1, Q_ii = 1: BN eps_g is the plain eps_g (rounding, 1e-14).

    For general tau, g, Q_ii the exact relation is: BN eps_g(Q, R, g; tau) equals the
    plain eps_g(Q~, R~; tau) at the overlaps of the rescaled students J~_i = g_i J_i/(sigma |J_i|),
    Q~_ik = g_i g_k Q_ik/(tau sqrt(Q_ii Q_kk)), R~_in = g_i R_in/(sigma sqrt(Q_ii)); at unit
    norms and g = 1 that is Q~ = Q/tau, R~ = R/sigma. Without the rescaling they differ at tau != 1."""
    for K, M in [(2, 2), (3, 4)]:
        plain = sp.Committee(K, M, tau=1.0)
        bn = sp.Committee(K, M, bn="paper", gain="fixed", tau=1.0)
        Q, R, _ = random_state(bn, rng)
        n = np.sqrt(np.diag(Q))
        Qn, Rn = Q / np.outer(n, n), R / n[:, None]
        for rule in ("paper", "exact"):
            e_bn = sp.generalization_error(bn.with_(bn=rule), (Qn, Rn, np.ones(K)))
            assert e_bn == pytest.approx(sp.generalization_error(plain, (Qn, Rn)), rel=1e-14, abs=1e-15)
        for tau in (0.3, 2.0, 7.0):
            sig = np.sqrt(tau)
            e_bn = sp.generalization_error(bn.with_(tau=tau), (Qn, Rn, np.ones(K)))
            e_pl = sp.generalization_error(plain.with_(tau=tau), (Qn, Rn))
            assert abs(e_bn - e_pl) > 1e-3  # BN divides out the input scale
            assert e_bn == pytest.approx(sp.generalization_error(plain.with_(tau=tau), (Qn / tau, Rn / sig)),
                                         rel=1e-13, abs=1e-15)
            g = rng.uniform(0.4, 1.8, size=K)
            Qt = np.outer(g, g) * Q / (tau * np.outer(n, n))
            Rt = g[:, None] * R / (sig * n[:, None])
            e_bn = sp.generalization_error(bn.with_(tau=tau, gain="learned"), (Q, R, g))
            assert e_bn == pytest.approx(sp.generalization_error(plain.with_(tau=tau), (Qt, Rt)), rel=1e-13, abs=1e-15)


# --------------------------------------------------------------------------
# 5. Bad BN states
# --------------------------------------------------------------------------
@pytest.mark.parametrize("bn", ["paper", "exact"])
def test_bad_bn_states_rejected(bn):
    m = sp.Committee(2, 2, bn=bn)
    Qz, Rz = np.diag([0.0, 1.0]), np.array([[0.0, 0.0], [0.3, 0.2]])  # valid Gram, but Q_11 = 0
    Qn = np.diag([-0.5, 1.0])
    Q, R = np.eye(2), 0.3 * np.eye(2)
    for name, call in [
        ("start", lambda Q_, R_, g_: sp.integrate(m, 0.5, 1.0, start=(Q_, R_, g_))),
        ("state", lambda Q_, R_, g_: sp.rhs(m, (Q_, R_, g_), 1.0)),
        ("state", lambda Q_, R_, g_: sp.generalization_error(m, (Q_, R_, g_))),
    ]:
        with pytest.raises(ValueError, match=rf"^{name}\.Q\b.*Q_ii > 0"):
            call(Qz, Rz, np.ones(2))
        with pytest.raises(ValueError, match=rf"^{name}\.Q\b"):
            call(Qn, Rz, np.ones(2))
        with pytest.raises(ValueError, match=rf"^{name}\.g\b.*g_i != 0"):
            call(Q, R, np.array([1.0, 0.0]))
