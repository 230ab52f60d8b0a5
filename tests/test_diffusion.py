"""The diffusion matrix's leading part in closed form (docs/model.md §12; derivations/diffusion.py).

``D = eta^2 D1 + O(eta^3)``: ``D1 = Cov[psi1]/b`` from absorption, Stein's lemma and Price's
theorem, checked against the quasi-Monte Carlo cubature of the same covariance (an independent
numerical method whose error falls as the points grow: 7.6e-3, 6.9e-4, 3.2e-4, 1.7e-4 relative at
2^14 .. 2^20 points on the exact-rule state below), against the right-hand side, and as the small
learning rate limit of the full matrix.
"""
import numpy as np
import pytest

import symphase
from symphase import _fluctuations as fl

CASES = [dict(), dict(bn="exact"), dict(bn="paper", noise=0.05, batch=2), dict(bn="exact", gain="fixed"),
         dict(tau=1.7, noise=0.01)]
IDS = ["plain", "bn-exact", "bn-paper-noise-b2", "bn-exact-fixed", "plain-tau-noise"]


def _state(kw, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((5, 9)) / 3
    G = W @ W.T
    model = symphase.Committee(3, 2, T=G[3:, 3:], **kw)
    g = 1 + 0.2 * rng.standard_normal(3) if model.has_bn else None
    return model, G[:3, :3], G[:3, 3:], g


def _qmc_linear(model, y, n_points):
    """Cov[psi1]/b by the cubature of rate_moments, with the eta^2 term of psi switched off (b = inf)."""
    sysm = model.system
    Q, R, g = sysm.layout.unpack(y)
    g = np.ones(model.K) if g is None else g
    n = model.K + model.M
    P, w = fl.normal_rule(n + 1, n_points)
    size = sysm.layout.size
    mu, sec, psi = np.empty(size), np.empty((size, size)), np.empty(size)
    assert fl.rate_moments(np.ascontiguousarray(Q), np.ascontiguousarray(R), g, sysm.T, sysm.params(1.0), np.inf,
                           model.has_bn, P, w, mu, sec, psi, np.empty(n), np.empty((n, n)), np.zeros((n, n)),
                           np.zeros(n, dtype=np.bool_))
    return (sec - np.outer(mu, mu)) / model.batch


@pytest.mark.parametrize("kw", CASES, ids=IDS)
def test_closed_form_equals_the_cubature(kw):
    """Within 1.5e-3 of max |D1| (the cubature's own error at 2^18 points is about 3e-4 there)."""
    model, Q, R, g = _state(kw)
    y = model.system.state(Q, R, g)
    D1, mean = fl.linear_diffusion(model, y)
    Dq = _qmc_linear(model, y, 2**18)
    assert np.max(np.abs(D1 - Dq)) < 1.5e-3 * np.max(np.abs(D1))
    np.testing.assert_allclose(D1, D1.T, rtol=0, atol=1e-15)
    assert np.linalg.eigvalsh(D1)[0] > -1e-12 * np.max(np.abs(D1))  # a covariance
    # the mean of psi1 is the right-hand side's O(eta) part: the same closed forms, to rounding
    np.testing.assert_allclose(mean, model.system.rhs(y, 1.0, part="linear"), rtol=0, atol=1e-14)


@pytest.mark.parametrize("kw", CASES[:3], ids=IDS[:3])
def test_small_learning_rate_limit_of_the_full_matrix(kw):
    """diffusion_matrix(part="full") / eta^2 -> D1 as eta -> 0: at eta = 1e-3 within 2e-3 of max |D1|
    (the O(eta) correction is about 1e-3 relative here; the cubature error about 7e-4)."""
    model, Q, R, g = _state(kw)
    full = symphase.diffusion_matrix(model, Q, R, g, eta=1e-3)
    lin = symphase.diffusion_matrix(model, Q, R, g, eta=1e-3, part="linear")
    assert np.max(np.abs(full - lin)) < 2e-3 * np.max(np.abs(lin))


def test_diffusion_matrix_bad_input():
    model, Q, R, g = _state({})
    with pytest.raises(ValueError, match="part must be"):
        symphase.diffusion_matrix(model, Q, R, eta=0.5, part="quadratic")
    with pytest.raises(ValueError, match="eta"):
        symphase.diffusion_matrix(model, Q, R, eta=0.0)
    with pytest.raises(ValueError, match="covers the soft committee machine"):
        symphase.diffusion_matrix(model.with_(second_layer="learned"), Q, R, eta=0.5)
