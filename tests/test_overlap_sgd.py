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
         dict(bn="exact", batch=3),
         # the two-layer network (docs/model.md §13): learned v with v*, weight decay; linear with 1/K; BN
         dict(second_layer="learned", v_teacher=[1.0, 0.7], weight_decay=0.5),
         dict(second_layer="learned", activation="linear", scaling="1/K", batch=2),
         dict(bn="exact", second_layer="learned")]
IDS = ["plain", "bn-paper", "bn-exact", "bn-exact-fixed", "plain-b3", "bn-exact-b3", "two-layer-wd", "linear-1/K-b2",
       "two-layer-bn-exact"]


def states(kw, n, N=60, steps=20, eta=1.0):
    model = sp.Committee(2, 2, noise=0.1, tau=1.3, **kw)
    Q0, R0, _, _ = sp.random_initial(model, N, 1)
    g0 = np.array([0.9, 1.2]) if model.has_bn else np.ones(2)
    v0 = np.array([0.6, 1.3]) if model.learns_v else np.ones(2)
    par = model.system.params(eta, eta2=0.7 * eta if model.learns_v else None)
    J, B = weights_from_overlaps(model, (Q0, R0), N, 0)
    wa, ca = _sgd.weight_args(model, par, B), ov.chain_args(model, par, N)
    w_out, o_out = [], []
    for seed in range(n):
        Jt, g, v = np.ascontiguousarray(J.T), g0.copy(), v0.copy()
        assert _sgd.sgd_steps(Jt, g, v, steps, _rng.rng_state(seed), wa) == steps
        Q, R = Jt.T @ Jt, Jt.T @ wa.Bt
        w_out.append(np.concatenate([Q[np.triu_indices(2)], R.ravel(), g, v]))
        Q, R, g, v = Q0.copy(), R0.copy(), g0.copy(), v0.copy()
        did = ov.overlap_steps(Q, R, g, v, steps, _rng.rng_state(10**6 + seed), ca)
        assert did == steps
        o_out.append(np.concatenate([Q[np.triu_indices(2)], R.ravel(), g, v]))
    keep = list(range(7)) + ([7, 8] if model.learns_gain else []) + ([9, 10] if model.learns_v else [])
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


@pytest.mark.parametrize("N", [60, 200])
@pytest.mark.slow
def test_simulate_on_overlaps_is_the_same_process(N):
    """simulate(method="overlaps") against method="weights", plain K = M = 2, eta = 1, 200 seeds each
    (0..199 and 10^6..10^6+199, independent), at two N: eps_g at alpha ~ 2, 9, 30, 84 by Welch's t-test
    and Kolmogorov-Smirnov, and the escape times (symphase.escape_alpha) by Kolmogorov-Smirnov and
    Welch's t-test. Each p-value must exceed 1e-3 (10 tests per N: a false alarm about 1% of the time
    per N, and these seeds are fixed, so the outcome is deterministic)."""
    from scipy import stats
    model = sp.Committee(2, 2)
    alphas = np.concatenate([[0.0], np.geomspace(0.5, 150.0, 40)])
    w = sp.simulate(model, N, 1.0, 150.0, seeds=200, alphas=alphas, method="weights")
    o = sp.simulate(model, N, 1.0, 150.0, seeds=range(10**6, 10**6 + 200), alphas=alphas, method="overlaps")
    assert o.status == "completed" and o.info["method"] == "overlaps"
    np.testing.assert_array_equal(w.alpha, o.alpha)
    for a in (2.0, 9.0, 30.0, 84.0):
        j = int(np.argmin(np.abs(w.alpha - a)))
        assert stats.ttest_ind(w.eg[:, j], o.eg[:, j], equal_var=False).pvalue > 1e-3
        assert stats.ks_2samp(w.eg[:, j], o.eg[:, j]).pvalue > 1e-3
    ew = np.array([sp.escape_alpha(w.alpha, e) for e in w.eg])
    eo = np.array([sp.escape_alpha(o.alpha, e) for e in o.eg])
    assert np.mean(np.isnan(ew)) < 0.05 and np.mean(np.isnan(eo)) < 0.05
    ew, eo = ew[np.isfinite(ew)], eo[np.isfinite(eo)]
    assert stats.ks_2samp(ew, eo).pvalue > 1e-3
    assert stats.ttest_ind(ew, eo, equal_var=False).pvalue > 1e-3


def test_simulate_on_overlaps_starts_where_the_weights_start_and_is_seeded():
    """The same seed gives the same initial overlaps as method="weights" (bit for bit), and the same
    numbers whatever the number of workers."""
    model = sp.Committee(2, 3, bn="exact", batch=2)
    w = sp.simulate(model, 80, 0.5, 2.0, seeds=3, alphas=[0.0, 1.0, 2.0])
    a = sp.simulate(model, 80, 0.5, 2.0, seeds=3, alphas=[0.0, 1.0, 2.0], method="overlaps", workers=1)
    b = sp.simulate(model, 80, 0.5, 2.0, seeds=3, alphas=[0.0, 1.0, 2.0], method="overlaps", workers=3)
    np.testing.assert_array_equal(a.Q[:, 0], w.Q[:, 0])
    np.testing.assert_array_equal(a.initial["R"], w.initial["R"])
    np.testing.assert_array_equal(a.eg, b.eg)
    np.testing.assert_array_equal(a.g, b.g)
    assert not np.array_equal(a.eg[:, -1], w.eg[:, -1])  # equal in distribution, not path by path


def test_simulate_on_overlaps_bad_input():
    model = sp.Committee(2, 2, batch=3)
    with pytest.raises(ValueError, match="^method must be one of"):
        sp.simulate(model, 100, 0.5, 1.0, method="sde-ish")
    with pytest.raises(ValueError, match=r"^N must be an integer >= K \+ M \+ batch = 7"):
        sp.simulate(model, 6, 0.5, 1.0, method="overlaps")
    with pytest.raises(ValueError, match="^n_test: method='overlaps' does not support a test set.*method='weights'$"):
        sp.simulate(model, 100, 0.5, 1.0, method="overlaps", n_test=10)
    with pytest.raises(ValueError, match="^bn_stats: method='sde' does not support bn_stats='batch'.*"
                                         "method='weights' or 'overlaps'$"):
        sp.simulate(sp.Committee(2, 2, bn="exact", batch=3), 100, 0.5, 1.0, method="sde", bn_stats="batch")
    with pytest.raises(ValueError, match="^bn_stats: bn_stats='batch' runs the committee machine only"):
        sp.simulate(sp.Committee(2, 2, bn="exact", batch=3, second_layer="learned"), 100, 0.5, 1.0,
                    method="overlaps", bn_stats="batch")


BATCH_CASES = [dict(bn="paper", batch=3), dict(bn="exact", batch=3), dict(bn="exact", batch=2, gain="fixed"),
               dict(bn="exact", batch=4, noise=0.1)]


@pytest.mark.parametrize("kw", BATCH_CASES, ids=["paper-b3", "exact-b3", "exact-fixed-b2", "exact-b4-noise"])
@pytest.mark.slow
def test_batch_statistics_chain_agrees_with_weight_space_sgd(kw):
    """BN with the batch's own mean and standard deviation (docs/model.md §11): the overlap chain
    (overlap_steps_batch_stats) against SGD on the weights (sgd_steps_batch_stats), 20 steps from one
    state, 6000 runs each (seeds 0.. and 10^6..): means and variances of every order parameter within
    4.5 standard errors of the difference, as for the population statistics above."""
    N, steps, n = 60, 20, 6000
    model = sp.Committee(2, 2, tau=1.3, **kw)
    Q0, R0, _, _ = sp.random_initial(model, N, 1)
    g0 = np.array([0.9, 1.2])
    par = model.system.params(1.0)
    J, B = weights_from_overlaps(model, (Q0, R0), N, 0)
    wa, ca = _sgd.weight_args(model, par, B, batch_stats=True), ov.chain_args(model, par, N)
    w_out, o_out = [], []
    for seed in range(n):
        Jt, g = np.ascontiguousarray(J.T), g0.copy()
        assert _sgd.sgd_steps_batch_stats(Jt, g, steps, _rng.rng_state(seed), wa) == steps
        Q, R = Jt.T @ Jt, Jt.T @ wa.Bt
        w_out.append(np.concatenate([Q[np.triu_indices(2)], R.ravel(), g]))
        Q, R, g = Q0.copy(), R0.copy(), g0.copy()
        assert ov.overlap_steps_batch_stats(Q, R, g, steps, _rng.rng_state(10**6 + seed), ca) == steps
        o_out.append(np.concatenate([Q[np.triu_indices(2)], R.ravel(), g]))
    keep = list(range(7)) + ([7, 8] if model.learns_gain else [])
    a, o = np.array(w_out)[:, keep], np.array(o_out)[:, keep]
    assert np.max(np.abs(z_scores(a, o))) < 4.5
    assert np.max(np.abs(z_scores((a - a.mean(0)) ** 2, (o - o.mean(0)) ** 2))) < 4.5


@pytest.mark.slow
def test_simulate_on_overlaps_with_batch_statistics():
    """simulate(method="overlaps", bn_stats="batch") against method="weights" (exact rule, batch 3,
    N = 200, eta = 1, 100 seeds each, independent): eps_g at alpha ~ 5 and 20 by Welch's t-test and
    Kolmogorov-Smirnov, each p > 1e-3 (fixed seeds: deterministic)."""
    from scipy import stats
    model = sp.Committee(2, 2, bn="exact", batch=3)
    alphas = [0.0, 5.0, 20.0]
    w = sp.simulate(model, 200, 1.0, 20.0, seeds=100, alphas=alphas, bn_stats="batch")
    o = sp.simulate(model, 200, 1.0, 20.0, seeds=range(10**6, 10**6 + 100), alphas=alphas, bn_stats="batch",
                    method="overlaps")
    assert o.status == "completed" and o.info["bn_statistics"] == "batch"
    for j in (1, 2):
        assert stats.ttest_ind(w.eg[:, j], o.eg[:, j], equal_var=False).pvalue > 1e-3
        assert stats.ks_2samp(w.eg[:, j], o.eg[:, j]).pvalue > 1e-3


def test_simulate_on_overlaps_divergence_is_a_result():
    res = sp.simulate(sp.Committee(2, 2), 40, 80.0, 20.0, seeds=2, blowup=1e3, method="overlaps",
                      alphas=np.linspace(0, 20, 11))
    assert res.status in ("diverged", "invalid") and not res.success
    assert all(st in ("diverged", "invalid") for st in res.seed_status)
    for j in range(2):
        n = res.n_recorded[j]
        assert np.all(np.isfinite(res.eg[j, :n])) and np.all(np.isnan(res.eg[j, n:]))


def test_cli_method_overlaps(capsys, tmp_path):
    """symphase simulate/compare --method overlaps at N = 10^6: the same numbers as the API, in seconds."""
    import json

    from symphase.cli import main
    from symphase.cli.common import ETA_DEFAULT
    assert main(["simulate", "--N", "1000000", "--alpha-max", "0.02", "--seeds", "2", "--points", "3",
                 "--method", "overlaps", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    api = sp.simulate(sp.Committee(2, 2), 10**6, ETA_DEFAULT, 0.02, seeds=2, alphas=sp.default_alphas(0.02, 2),
                      method="overlaps")
    assert d["info"]["method"] == "overlaps" and d["eg"] == api.eg.tolist()
    assert main(["compare", "--N", "300", "--alpha-max", "3", "--seeds", "2", "--method", "overlaps"]) == 0
    assert main(["simulate", "--N", "4", "--method", "overlaps"]) == 2
    assert "N must be an integer >= K + M + batch" in capsys.readouterr().err
