"""The closed forms and every average of the right-hand side against seeded Monte Carlo.

Each comparison allows 4 standard errors of the Monte Carlo mean (about 6e-5
chance of a false alarm per comparison for Gaussian errors); seeds are fixed,
so the test is deterministic.
"""
import numpy as np
import pytest
from conftest import random_state
from scipy.special import erf

import symphase as sp
from symphase import gaussian
from symphase._generated import ode_kernels as gen

S = 400_000


def phi(u):
    return erf(u / np.sqrt(2))


def dphi(u):
    return np.sqrt(2 / np.pi) * np.exp(-u**2 / 2)


def random_cov(rng, n):
    A = rng.normal(size=(n, n + 2)) * rng.uniform(0.3, 1.2, size=(n, 1))
    return A @ A.T / (n + 2)


def within(samples, value, nse=4.0):
    mean = samples.mean()
    se = samples.std(ddof=1) / np.sqrt(samples.size)
    assert abs(mean - value) <= nse * se, (mean, value, se)


@pytest.mark.parametrize("seed", range(4))
def test_closed_forms_against_monte_carlo(seed):
    rng = np.random.default_rng(seed)
    C = random_cov(rng, 4)
    z = rng.multivariate_normal(np.zeros(4), C, size=S)
    within(phi(z[:, 0]) * phi(z[:, 1]), gaussian.I2(C[:2, :2]))
    within(dphi(z[:, 0]) * z[:, 1] * phi(z[:, 2]), gaussian.I3(C[:3, :3]))
    within(dphi(z[:, 0]) * dphi(z[:, 1]) * phi(z[:, 2]) * phi(z[:, 3]), gaussian.I4(C))
    within(dphi(z[:, 0]) * dphi(z[:, 1]), gaussian.J2(C[:2, :2]))


def test_monte_carlo_check_can_fail():
    rng = np.random.default_rng(0)
    C = random_cov(rng, 3)
    z = rng.multivariate_normal(np.zeros(3), C, size=S)
    with pytest.raises(AssertionError):
        within(dphi(z[:, 0]) * z[:, 1] * phi(z[:, 2]), gaussian.I3(C) * 1.1)


def field_sums(model, y):
    """The effective covariance ``C``, signs ``w`` and field sums ``G``, ``D``, ``J2`` of state ``y``."""
    from symphase._kernels import covariance
    a = model.system.args()
    covariance(y, a)
    ws = a.ws
    gen.field_sums(ws.C, ws.w, model.K, ws.G, ws.D, ws.J2, ws.P, ws.Pc, ws.A, ws.B, ws.r)
    return ws.C, ws.w, ws.G, ws.D, ws.J2


@pytest.mark.parametrize("bn", [None, "paper", "exact"])
def test_right_hand_side_averages_against_monte_carlo(bn, rng):
    """G_ac = <Delta phi'(u_a) u_c>, D_ac + noise J2_ac = <Delta^2 phi'(u_a) phi'(u_c)> over the fields."""
    model = sp.Committee(2, 3, bn=bn, tau=1.5, noise=0.2, T=np.diag([1.0, 0.7, 1.3]))
    Q, R, g = random_state(model, rng)
    y = model.layout.pack(Q, R, g)
    C, w, G, D, J2 = field_sums(model, y)
    z = rng.multivariate_normal(np.zeros(C.shape[0]), C, size=S)
    zeta = np.sqrt(model.noise) * rng.normal(size=S)
    delta = phi(z) @ w + zeta
    for a in range(model.K):
        for c in range(C.shape[0]):
            within(delta * dphi(z[:, a]) * z[:, c], G[a, c])
        for c in range(model.K):
            within(delta**2 * dphi(z[:, a]) * dphi(z[:, c]), D[a, c] + model.noise * J2[a, c])


def test_field_sums_equal_brute_force_sums(rng):
    """The loop-hoisted kernels equal plain sums of the scalar closed forms."""
    model = sp.Committee(3, 2)
    Q, R, _ = random_state(model, rng)
    y = model.layout.pack(Q, R)
    C, w, G, D, _J2 = field_sums(model, y)
    F = range(5)
    for a in range(3):
        for c in F:
            ref = sum(w[p] * gaussian.I3(C[np.ix_([a, c, p], [a, c, p])]) for p in F)
            assert G[a, c] == pytest.approx(ref, rel=1e-12, abs=1e-14)
        for c in range(3):
            ref = sum(w[p] * w[q] * gaussian.I4(C[np.ix_([a, c, p, q], [a, c, p, q])]) for p in F for q in F)
            assert D[a, c] == pytest.approx(ref, rel=1e-12, abs=1e-14)
