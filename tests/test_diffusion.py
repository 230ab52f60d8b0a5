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
    work = fl.moment_workspace(model)
    assert fl.rate_moments(np.ascontiguousarray(Q), np.ascontiguousarray(R), g, sysm.T, sysm.params(1.0), np.inf,
                           model.has_bn, P, w, work)
    return (work.second - np.outer(work.mean, work.mean)) / model.batch


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
    full = symphase.diffusion_matrix(model, (Q, R, g), 1e-3).D
    lin = symphase.diffusion_matrix(model, (Q, R, g), 1e-3, part="linear").D
    assert np.max(np.abs(full - lin)) < 2e-3 * np.max(np.abs(lin))


def test_diffusion_matrix_bad_input():
    model, Q, R, _g = _state({})
    with pytest.raises(ValueError, match="part must be"):
        symphase.diffusion_matrix(model, (Q, R), 0.5, part="quadratic")
    with pytest.raises(ValueError, match="eta"):
        symphase.diffusion_matrix(model, (Q, R), 0.0)
    with pytest.raises(ValueError, match="covers the soft committee machine"):
        symphase.diffusion_matrix(model.with_(second_layer="learned"), (Q, R), 0.5)


@pytest.mark.slow
def test_the_order_one_over_N_drift_correction_of_plain_sgd():
    """Beyond the ODE: one exact SGD step (the overlap chain, plain, b = 1) moves Q_ik on average by
    f/N + c/N^2 with c = eta^2 (<d_i d_k z^T G^+ z> - rank(G) tau <d_i d_k>): |xi|^2 is N tau only on
    average, and its part inside span(J, B), z^T G^+ z, correlates with the fields (docs/model.md §12).
    The closed form uses the same field moments as D1; R has no such term. Measured: 400,000 single
    steps at N = 30 (seeds 0..399, 1000 steps each), N (N E[dy] - f) within 4 standard errors plus the
    O(1/N) next order (0.06, from the N = 30 vs 120 runs) of the prediction. Its size at N = 1000,
    about 2e-4 against f ~ 0.3, is why the SDE without it reproduces the exact chain's escape times."""
    import numba

    from symphase import _kernels as kern
    from symphase import _overlap_sgd as ov
    from symphase import _rng
    from symphase._generated import diffusion as gd
    from symphase._generated import ode_kernels as go

    model = symphase.Committee(2, 2)
    Q0 = np.array([[0.6, 0.1], [0.1, 0.5]])
    R0 = np.array([[0.3, 0.05], [0.1, 0.25]])
    y0 = model.system.state(Q0, R0)
    f = model.system.rhs(y0, 1.0)
    # the prediction
    a = model.system.args(1.0)
    ws = a.ws
    kern.covariance(y0, a)
    go.field_sums(ws.C, ws.w, 2, ws.G, ws.D, ws.J2, ws.P, ws.Pc, ws.A, ws.B, ws.r)
    M4 = np.empty((2, 2, 4, 4))
    gd.field_moments(ws.C, ws.w, 2, 0.0, *[np.empty((4, 4)) for _ in range(4)], np.empty(4), np.empty((4, 4)), M4)
    Gp = np.linalg.pinv(np.block([[Q0, R0], [R0.T, np.eye(2)]]))
    predicted = [np.sum(Gp * M4[i, k]) - 4 * ws.D[i, k] for i, k in [(0, 0), (0, 1), (1, 1)]]

    @numba.njit
    def mean_step(N, states, per_seed, ca, one):  # one = 1 step, passed in: a literal 1 would compile a second chain
        acc = np.zeros(7)
        acc2 = np.zeros(7)
        ones = np.ones(2)
        dy = np.zeros(7)
        for seed in range(states.shape[0]):
            s = states[seed]
            for _ in range(per_seed):
                Q, R, g = Q0.copy(), R0.copy(), np.ones(2)
                ov.overlap_steps(Q, R, g, ones, one, s, ca)
                dy[0], dy[1], dy[2] = Q[0, 0] - Q0[0, 0], Q[0, 1] - Q0[0, 1], Q[1, 1] - Q0[1, 1]
                dy[3], dy[4], dy[5], dy[6] = R[0, 0] - R0[0, 0], R[0, 1] - R0[0, 1], R[1, 0] - R0[1, 0], \
                    R[1, 1] - R0[1, 1]
                for j in range(7):
                    acc[j] += dy[j] * N
                    acc2[j] += (dy[j] * N) ** 2
        return acc, acc2

    N, n = 30, 400_000
    states = np.array([_rng.rng_state(seed) for seed in range(400)])
    acc, acc2 = mean_step(N, states, 1000, ov.chain_args(model, model.system.params(1.0), N, vt=np.ones(2), b=1), 1)
    mean = acc / n
    se = np.sqrt((acc2 / n - mean**2) / n)
    measured = N * (mean - f)
    expected = np.concatenate([predicted, np.zeros(4)])
    assert np.all(np.abs(measured - expected) < 4 * N * se + 0.06), (measured, expected, N * se)
