"""The diffusion approximation's stepper (docs/model.md §12): a weak Euler scheme whose noise
increment is drawn from the rule's own per-example rates.

One step from ``y`` is ``y + f h + (h/(N b m))^(1/2) sum_{j<m} (psi(z_j) - f)`` with ``f`` the ODE's
right-hand side and ``psi`` the per-example rates at ``m`` fresh examples. Its claims: the
increment's mean is ``f h`` (``E[psi] = f`` exactly: the rates are the ODE's integrand) and its
covariance is ``D h / N`` with ``D = Cov[psi]/b`` the diffusion matrix. Both are checked on 20000
independent one-step increments from one state: the mean entry by entry against its standard error
(|z| < 4.5 over the 9 entries: a false alarm has probability < 1e-4), the covariance against the
quasi-Monte Carlo ``D`` (2^16 points, itself accurate to ~1e-3) entry by entry, with the sampling
standard error of each covariance entry estimated from the same increments (|z| < 4.5).
"""
from __future__ import annotations

import numpy as np
import pytest

import symphase as sp
from symphase import _fluctuations as fl
from symphase._escape import random_start_overlaps
from symphase._rng import rng_state

CASES = {"plain": {}, "bn-exact": {"bn": "exact"}, "plain-b2-noise": {"batch": 2, "noise": 0.1}}


@pytest.mark.parametrize("case", CASES)
def test_one_step_increment_has_the_drift_and_the_diffusion_matrix(case):
    model = sp.Committee(2, 2, **CASES[case])
    N, h, n = 10**4, 0.05, 20000
    Q0, R0 = random_start_overlaps(model, 1000, np.random.default_rng(3))
    y0 = model.layout.pack(Q0, R0, np.ones(2) if model.has_bn else None)
    ka = model.system.args(1.0)
    work = fl.sde_example_workspace(model)
    c = fl.SDEConsts(N=N, b=model.batch, has_gain=model.has_bn, dalpha=h, blowup=1e6, psd_tol=1e-7,
                     examples=fl.SDE_EXAMPLES)
    s = rng_state(0)
    inc = np.empty((n, y0.size))
    for i in range(n):
        y = y0.copy()
        assert fl.sde_example_steps(y, ka, s, 1, c, work) == 1
        inc[i] = y - y0
    f = model.system.rhs(y0, 1.0)
    se = inc.std(0, ddof=1) / np.sqrt(n)
    assert np.all(np.abs(inc.mean(0) - f * h) < 4.5 * se), (inc.mean(0) - f * h) / se
    D = fl.diffusion(model, y0, 1.0)[0]
    dev = (inc - inc.mean(0)) * np.sqrt(N / h)
    prod = dev[:, :, None] * dev[:, None, :]
    cov, cov_se = prod.mean(0), prod.std(0, ddof=1) / np.sqrt(n)
    assert np.all(np.abs(cov - D) < 4.5 * cov_se + 2e-3 * np.abs(D).max()), np.max(np.abs(cov - D) / cov_se)
    # and the test can fail: the covariance of half the noise is far outside
    assert np.max(np.abs(cov / 4 - D) / (cov_se / 4 + 2e-3 * np.abs(D).max())) > 10


def test_same_seed_same_path_and_state_left_is_reported():
    model = sp.Committee(2, 2)
    y0 = model.layout.pack(0.5 * np.eye(2), 0.1 * np.ones((2, 2)), None)
    ka = model.system.args(1.0)
    c = fl.SDEConsts(N=1000, b=1, has_gain=False, dalpha=0.05, blowup=1e6, psd_tol=1e-7, examples=fl.SDE_EXAMPLES)
    paths = []
    for _ in range(2):
        y = y0.copy()
        assert fl.sde_example_steps(y, ka, rng_state(7), 200, c, fl.sde_example_workspace(model)) == 200
        paths.append(y)
    assert np.array_equal(paths[0], paths[1]) and not np.array_equal(paths[0], y0)
    y = y0.copy()  # a divergence bound the state crosses at once: the steps done are reported
    tight = c._replace(blowup=1e-3)
    assert fl.sde_example_steps(y, ka, rng_state(7), 200, tight, fl.sde_example_workspace(model)) == 0
