"""Online SGD at finite N against the ODE (MODEL.md §5), determinism, bad input."""
import numpy as np
import pytest

import symphase as sp
from symphase.simulate import fill_normal, rng_state, simulate

RULES = [None, "paper", "exact"]


def test_gaussian_generator_moments():
    """xoshiro256** + polar method: mean 0, variance 1, kurtosis 3, within 4 standard errors."""
    z = np.empty(2_000_001)
    fill_normal(rng_state(7), z)
    n = z.size
    assert abs(z.mean()) < 4 / np.sqrt(n)
    assert abs(z.var() - 1) < 4 * np.sqrt(2 / n)
    assert abs(np.mean(z**4) - 3) < 4 * np.sqrt(96 / n)
    assert abs(np.mean(z[1:] * z[:-1])) < 4 / np.sqrt(n)  # consecutive draws uncorrelated


@pytest.mark.parametrize("bn", RULES)
def test_discrepancy_shrinks_like_inverse_sqrt_N(bn):
    """max_alpha |sim - ODE| (eps_g, Q, R; ODE from each seed's own start) ~ N^(-1/2).

    eta = 1, alpha in [0, 5]: the initial descent, where the overlaps move by
    O(1) and the fluctuations are largest, before the plateau (no permutation
    ambiguity). 6 seeds per N; the slope of log(mean discrepancy) vs log N
    over N = 250..4000 must be -0.5 +- 0.15 (the seed average has ~15%
    scatter, i.e. ~0.05 on the slope).
    """
    Ns = np.array([250, 500, 1000, 2000, 4000])
    model = sp.Committee(2, 2, bn=bn)
    alphas = np.linspace(0, 5, 11)
    disc = {"eg": [], "Q": [], "R": []}
    for N in Ns:
        cmp = sp.compare(model, int(N), 1.0, 5.0, 6, alphas=alphas)
        for k, v in cmp.discrepancy.items():
            disc[k].append(v.mean())
    for k, v in disc.items():
        slope = np.polyfit(np.log(Ns), np.log(v), 1)[0]
        assert abs(slope + 0.5) <= 0.15, (bn, k, slope, v)


@pytest.mark.parametrize("bn", RULES)
def test_ode_within_three_standard_errors_at_N_4000(bn):
    """At N = 4000 the seed mean of eps_g_sim - eps_g_ODE (each seed with its own start)
    is within 3 standard errors of zero at every recorded alpha up to 10 (initial
    descent and plateau, before the escape at alpha ~ 90 for eta = 1)."""
    model = sp.Committee(2, 2, bn=bn)
    cmp = sp.compare(model, 4000, 1.0, 10.0, 8, alphas=np.linspace(0, 10, 11)[1:])
    mean, se = cmp.mean_difference
    assert np.all(np.abs(mean) <= 3 * se), (mean / se)
    assert np.all(se > 0)


def test_same_seed_same_numbers_across_workers_different_seeds_differ():
    model = sp.Committee(2, 2, bn="exact", batch=3, noise=0.01)
    a = simulate(model, 200, 0.7, 2.0, seeds=[4, 5, 6], workers=1)
    b = simulate(model, 200, 0.7, 2.0, seeds=[4, 5, 6], workers=3)
    np.testing.assert_array_equal(a.eg, b.eg)
    np.testing.assert_array_equal(a.Q, b.Q)
    np.testing.assert_array_equal(a.g, b.g)
    c = simulate(model, 200, 0.7, 2.0, seeds=[7], workers=1)
    assert not np.array_equal(a.eg[0], c.eg[0])
    assert not np.array_equal(a.eg[0], a.eg[1])


def test_result_shapes_and_initial_overlaps():
    model = sp.Committee(3, 2, bn="paper")
    res = simulate(model, 100, 0.5, 1.0, seeds=2, alphas=[0.0, 0.5, 1.0])
    assert res.eg.shape == (2, 3) and res.Q.shape == (2, 3, 3, 3) and res.R.shape == (2, 3, 3, 2)
    assert res.g.shape == (2, 3, 3)
    np.testing.assert_array_equal(res.initial["Q"], res.Q[:, 0])
    np.testing.assert_array_equal(res.alpha, [0.0, 0.5, 1.0])
    ds = res.to_xarray()
    assert ds["eg"].dims == ("seed", "alpha")


def test_start_from_given_overlaps():
    model = sp.Committee(2, 2)
    Q0 = np.array([[0.5, 0.1], [0.1, 0.4]])
    R0 = np.array([[0.2, 0.0], [0.05, 0.1]])
    res = simulate(model, 50, 0.5, 1.0, seeds=2, init={"Q": Q0, "R": R0}, alphas=[0.0, 1.0])
    for j in range(2):
        np.testing.assert_allclose(res.initial["Q"][j], Q0, atol=1e-12)
        np.testing.assert_allclose(res.initial["R"][j], R0, atol=1e-12)


def test_divergence_is_reported_not_silent():
    model = sp.Committee(2, 2)
    res = simulate(model, 100, 80.0, 50.0, seeds=2, blowup=1e3, alphas=np.linspace(0, 50, 26))
    assert res.status == "diverged" and "seed" in res.message
    for j in range(2):
        assert res.seed_status[j] == "diverged"
        n = np.sum(np.isfinite(res.eg[j]))
        assert n >= 1 and np.all(np.isnan(res.eg[j, n:]))


@pytest.mark.parametrize("kwargs, name", [
    (dict(N=0), "N"), (dict(eta=0.0), "eta"), (dict(eta=-1.0), "eta"), (dict(seeds=0), "seeds"),
    (dict(alphas=[0, 2, 1]), "alphas"), (dict(alpha_max=0.0), "alpha_max"), (dict(workers=0), "workers"),
])
def test_bad_input(kwargs, name):
    args = dict(N=100, eta=0.5, alpha_max=3.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        simulate(sp.Committee(2, 2), args.pop("N"), args.pop("eta"), args.pop("alpha_max"), **args)


def test_bad_batch_rejected():
    with pytest.raises(ValueError, match="^batch"):
        sp.Committee(2, 2, batch=0)


def test_escape_time_plateau_definition():
    from symphase.compare import escape_alpha
    a = np.geomspace(0.01, 1000, 200)
    eg = 0.6 * np.exp(-a) + 0.02 / (1 + np.exp((a - 300) / 10)) + 1e-4
    t = escape_alpha(a, eg, 0.5)
    assert 300 < t < 320
    assert np.isnan(escape_alpha(a, 0.6 * np.exp(-a) + 0.02, 0.5))  # no escape: NaN
