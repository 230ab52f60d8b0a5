"""The distribution of plateau lengths from theory (symphase.escape_time, docs/model.md §12.1) against
the exact overlap chain (method="overlaps", the same process as SGD on the weights).

Plain K = M = 2, eta = 1, N = 1000, the random start: 150 theory samples (seeds 0..149) against 150
exact runs (seeds 5000..5149) with escape read at the same threshold on a grid of step 0.25. The mean
must agree within 5 % or 3 standard errors of the difference (whichever is larger), the standard
deviation within 20 % (its standard error from 150 samples is about 6 %). Measured: 98.6 and 98.6,
std 16.1 against 17.6.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import symphase as sp
from symphase._escape import random_start_overlaps


def chain_escape_times(model, N, eta, level, seeds, alpha_max, init=None):
    alpha_max = float(np.ceil(alpha_max / 0.25) * 0.25)
    alphas = np.arange(0.0, alpha_max + 0.125, 0.25)
    o = sp.simulate(model, N, eta, alpha_max, seeds=seeds, alphas=alphas, method="overlaps", init=init)
    return np.array([o.alpha[np.argmax(e < level)] if np.any(e < level) else np.nan for e in o.eg])


def test_escape_time_from_the_random_start_matches_the_exact_chain():
    model = sp.Committee(2, 2)
    et = sp.escape_time(model, 1000, 1.0, samples=150)
    assert et.status == "completed" and np.all(np.isfinite(et.samples))
    ch = chain_escape_times(model, 1000, 1.0, et.level, range(5000, 5150), 200.0)
    ch = ch[np.isfinite(ch)]
    se = np.sqrt(et.std**2 / et.samples.size + ch.var(ddof=1) / ch.size)
    assert abs(et.mean - ch.mean()) < max(0.05 * ch.mean(), 3 * se)
    assert abs(et.std / ch.std(ddof=1) - 1) < 0.2


def test_escape_time_from_the_plateau_K3():
    """Plain K = M = 3, eta = 1, N = 1000, from the fixed point with the asymmetry of a random start
    (near_fixed_point, the same seeds on both sides, 120 each): mean within 5 % or 3 s.e., std within 20 %."""
    model = sp.Committee(3, 3)
    fp = sp.symmetric_fixed_point(model)
    et = sp.escape_time(model, 1000, 1.0, start=fp, samples=120)
    ch = chain_escape_times(model, 1000, 1.0, et.level, range(120), float(np.nanmax(et.samples)) * 1.5,
                            init=lambda s: sp.near_fixed_point(fp, 1000, s))
    assert np.mean(np.isfinite(ch)) > 0.95
    ch = ch[np.isfinite(ch)]
    se = np.sqrt(et.std**2 / et.samples.size + ch.var(ddof=1) / ch.size)
    assert abs(et.mean - ch.mean()) < max(0.05 * ch.mean(), 3 * se)
    assert abs(et.std / ch.std(ddof=1) - 1) < 0.2


def test_random_start_overlaps_are_the_random_initial_ensemble():
    """Q, R drawn in overlap space against the overlaps of drawn weights (random_initial): means and variances
    of every entry within 5 standard errors (20,000 draws each)."""
    model = sp.Committee(2, 3)
    N, n = 30, 20_000
    rng = np.random.default_rng(1)
    a = np.array([model.layout.pack(*random_start_overlaps(model, N, rng)) for _ in range(n)])
    b = np.array([model.layout.pack(*sp.random_initial(model, N, s)[:2]) for s in range(n)])
    z = (a.mean(0) - b.mean(0)) / np.sqrt(a.var(0) / n + b.var(0) / n)
    assert np.max(np.abs(z)) < 5
    da, db = (a - a.mean(0)) ** 2, (b - b.mean(0)) ** 2
    z = (da.mean(0) - db.mean(0)) / np.sqrt(da.var(0) / n + db.var(0) / n)
    assert np.max(np.abs(z)) < 5


def test_seconds_at_a_million_inputs_deterministic_and_the_protocol():
    model = sp.Committee(2, 2)
    a = sp.escape_time(model, 10**6, 1.0, samples=8, workers=1)
    b = sp.escape_time(model, 10**6, 1.0, samples=8, workers=2)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert a.mean > 100 and "diffusion approximation" in a.how
    assert float(a.quantile(0.0)) == np.min(a.samples)
    json.dumps(a.to_dict(), allow_nan=False)
    assert a.to_xarray()["escape_alpha"].size == 8 and repr(a).startswith("EscapeTime(")


def test_bad_input():
    model = sp.Committee(2, 2)
    with pytest.raises(ValueError, match="^N must be an integer >= 4"):
        sp.escape_time(model, 3, 1.0)
    with pytest.raises(ValueError, match="^threshold must be below the start's eps_g"):
        sp.escape_time(model, 1000, 1.0, threshold=0.9, samples=2)
    with pytest.raises(ValueError, match="^start must be"):
        sp.escape_time(model, 1000, 1.0, start="plateau", samples=2)
    with pytest.raises(ValueError, match="^fraction must be"):
        sp.escape_time(model, 1000, 1.0, fraction=1.5, samples=2)
    with pytest.raises(ValueError, match="^samples must be"):
        sp.escape_time(model, 1000, 1.0, samples=1)


def test_cli(capsys):
    from symphase.cli import main
    assert main(["escape-time", "--N", "100000", "--samples", "4", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    api = sp.escape_time(sp.Committee(2, 2), 100000, 1.0, samples=4)
    assert d["samples"] == api.samples.tolist()
    assert main(["escape-time", "--threshold", "0.9", "--samples", "3"]) == 2


def test_ln_N_slope_from_the_random_start_is_set_by_the_unspecialised_plateau():
    """Finding (README, docs/model.md §12.2): from a random start (plain K = M = 2, eta = 1) SGD reaches the
    symmetric fixed point where the students have *not* coincided (C < Q; the exactly symmetric ODE from
    Q = I, R = 0 ends there), whose escape rate lambda_u = 0.0591 is smaller than the 0.0748 of the C = Q
    point. The escape time from the random ensemble then grows like ln N / (2 lambda_u) = 8.45 ln N:
    escape_time at N = 10^4 and 10^6 (100 samples each, seeds 0..99; s.e. of the slope about 6 %) must
    give a slope within 15 % of it."""
    from scipy.optimize import root

    from symphase._fixedpoint import symmetric_state
    model = sp.Committee(2, 2)
    # the symmetric ODE from the ensemble's mean approaches the point; the reduced rates (symmetric by
    # construction: rounding cannot trigger the unstable, specialising mode) pin it to 1e-12
    ode = sp.integrate(model, np.eye(2), np.zeros((2, 2)), 1.0, 300.0, eg_tol=0.0)
    x0 = [ode.Q[-1][0, 0], ode.Q[-1][0, 1], ode.R[-1][0, 0], ode.R[-1][0, 1]]
    sol = root(lambda x: list(sp.reduced_rhs(model, *x, eta=1.0).values()), x0, tol=1e-14)
    Q, C, R, S = sol.x
    y = symmetric_state(model, Q, C, R, S)
    assert np.max(np.abs(model.system.rhs(y, 1.0))) < 1e-10         # a fixed point of the full ODE ...
    assert C < Q - 0.05 and abs(R - S) < 1e-8                        # ... with C < Q, R = S
    lam_u = float(np.max(np.linalg.eigvals(model.system.jacobian(y, 1.0)).real))
    assert abs(lam_u - 0.0591) < 5e-4
    lam_c = sp.symmetric_fixed_point(model, 1.0).escape_rate
    assert lam_u < 0.85 * lam_c
    a = sp.escape_time(model, 10**4, 1.0, samples=100)
    b = sp.escape_time(model, 10**6, 1.0, samples=100)
    slope = (b.mean - a.mean) / np.log(100.0)
    assert abs(slope * 2 * lam_u - 1) < 0.15, (slope, 1 / (2 * lam_u))


def test_failed_and_interrupted_samples_are_said_not_hidden(monkeypatch):
    """A sample whose state leaves the valid overlaps is not counted as 'did not escape': the status is
    'diverged' and the message says how many; Ctrl-C keeps the samples finished so far ('interrupted')."""
    from symphase import _fluctuations
    model = sp.Committee(2, 2)
    real = _fluctuations.sde_steps
    monkeypatch.setattr(_fluctuations, "sde_steps", lambda *a: 0)
    res = sp.escape_time(model, 1000, 1.0, samples=3, workers=1)
    assert res.status == "diverged" and "3 left the valid overlaps" in res.message and np.all(np.isnan(res.samples))
    calls = []

    def interrupt_later(*a):
        calls.append(1)
        if len(calls) > 500:   # one sample escapes after about 400 calls
            raise KeyboardInterrupt
        return real(*a)
    monkeypatch.setattr(_fluctuations, "sde_steps", interrupt_later)
    res = sp.escape_time(model, 1000, 1.0, samples=4, workers=1)
    assert res.status == "interrupted" and "interrupted" in res.message
    assert np.sum(np.isfinite(res.samples)) >= 1   # the samples finished before Ctrl-C are kept
