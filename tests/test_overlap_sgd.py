"""Exact SGD in overlap space (docs/model.md §11) is the same process as SGD on the weights.

From one state, many independent short runs of both simulators (each its own
seed): the mean of every order parameter after 20 steps agrees within 4.5
standard errors of the difference (Bonferroni over the components, about a
1e-4 chance of a false alarm each), and so does the variance, compared through
the means of the squared deviations (a z-test that needs no Gaussianity).
Seeds: 0..n-1 for the weights, 10^6.. for the overlaps; n = 6000.
"""
from __future__ import annotations

import numpy as np
import pytest

import symphase as sp
from symphase import _overlap_sgd as ov
from symphase import _rng, _sgd
from symphase._weights import weights_from_overlaps

CASES = [dict(), dict(bn="paper"), dict(bn="exact"), dict(bn="exact", gain="fixed"), dict(batch=3),
         dict(bn="exact", batch=3)]
IDS = ["plain", "bn-paper", "bn-exact", "bn-exact-fixed", "plain-b3", "bn-exact-b3"]


def states(kw, n, N=60, steps=20, eta=1.0):
    model = sp.Committee(2, 2, noise=0.1, tau=1.3, **kw)
    b = model.batch
    Q0, R0, _ = sp.random_initial(model, N, 1)
    g0 = np.array([0.9, 1.2]) if model.has_bn else np.ones(2)
    par = model.system.params(eta)
    J, B = weights_from_overlaps(model, N, Q0, R0, 0)
    w_out, o_out = [], []
    for seed in range(n):
        Jt, Bt, g = np.ascontiguousarray(J.T), np.ascontiguousarray(B.T), g0.copy()
        dJ = np.empty((N, 2) if b > 1 else (1, 2))
        assert _sgd.sgd_steps(Jt, Bt, g, par, b, steps, _rng.rng_state(seed), np.empty(N), dJ, 1e6) == steps
        Q, R = Jt.T @ Jt, Jt.T @ Bt
        w_out.append(np.concatenate([Q[np.triu_indices(2)], R.ravel(), g]))
        Q, R, g = Q0.copy(), R0.copy(), g0.copy()
        did = ov.overlap_steps(Q, R, g, model.system.T, par, N, b, steps, _rng.rng_state(10**6 + seed), 1e6,
                               *ov.workspace(2, 2, b))
        assert did == steps
        o_out.append(np.concatenate([Q[np.triu_indices(2)], R.ravel(), g]))
    keep = slice(None) if model.learns_gain else slice(0, 7)
    return np.array(w_out)[:, keep], np.array(o_out)[:, keep]


def z_scores(a, b):
    n = a.shape[0]
    return (a.mean(0) - b.mean(0)) / np.sqrt(a.var(0, ddof=1) / n + b.var(0, ddof=1) / n)


@pytest.mark.parametrize("kw", CASES, ids=IDS)
def test_first_two_moments_agree_with_weight_space_sgd(kw):
    a, b = states(kw, 6000)
    assert np.max(np.abs(z_scores(a, b))) < 4.5
    da, db = (a - a.mean(0)) ** 2, (b - b.mean(0)) ** 2
    assert np.max(np.abs(z_scores(da, db))) < 4.5


@pytest.mark.parametrize("nu", [1, 2, 7, 60, 5000])
def test_chi2_sampler(nu):
    """Mean nu and variance 2 nu within 4.5 s.e. (40,000 draws, seed 3)."""
    s = _rng.rng_state(3)
    x = np.array([ov.chi2(s, float(nu)) for _ in range(40_000)])
    n = x.size
    assert abs(x.mean() - nu) < 4.5 * np.sqrt(2 * nu / n)
    fourth = 12 * nu * (nu + 4)  # E[(x - nu)^4] of chi^2_nu
    assert abs(x.var() - 2 * nu) < 4.5 * np.sqrt((fourth - 4 * nu * nu) / n)


def test_gram_factor_handles_coinciding_students():
    """At the plain plateau every student vector is the same mixture of the teachers (Q = R R^T):
    span(J, B) = span(B), rank M; L L^T = G still."""
    fp = sp.symmetric_fixed_point(sp.Committee(3, 3))
    n = 6
    G, L, used = np.zeros((n, n)), np.zeros((n, n)), np.zeros(n, dtype=bool)
    r = ov.gram_factor(fp.Q, fp.R, np.eye(3), G, L, used)
    assert r == 3 and used.sum() == 3
    np.testing.assert_allclose(L @ L.T, G, atol=1e-12)
    assert ov.gram_factor(np.eye(3), 2 * np.eye(3), np.eye(3), G, L, used) == -1  # not a Gram matrix
