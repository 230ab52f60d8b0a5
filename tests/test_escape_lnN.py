"""Plateau escape time in simulation grows as ln(N) / (2 lambda) (docs/model.md §5).

Each seed starts on the symmetric fixed point (plain K = M = 2, eta = 1) with
the random O(1/sqrt(N)) asymmetry a random start leaves
(:func:`symphase.near_fixed_point`); the same seed draws the same normalized
asymmetry at every N, so the escape times at N = 250 and N = 1000 are compared
seed by seed (a paired difference: the initial-condition scatter cancels and
only the SGD noise is left). Theory: the asymmetry grows as exp(lambda alpha),
lambda the largest eigenvalue of the ODE's Jacobian at the fixed point, and
the escape happens when it is O(1), so d alpha_esc / d ln N = 1 / (2 lambda).

SGD runs on the exact overlap chain (``method="overlaps"``, docs/model.md §11): the same process as on
the weights, in distribution, at a cost independent of N (183 s on the weights, under load).

Tolerance: 25 % (the agreement this check demands). The Monte Carlo error of the mean paired slope
(96 seeds) is measured in the test and must be at most a third of that
margin, so the test can tell a 25 % error from noise (it had s.e. about 0.5
against a margin of 1.67 when written).
"""
import numpy as np
import pytest

from symphase import Committee, near_fixed_point, simulate, symmetric_fixed_point
from symphase._plateau import escape_alpha

SEEDS = 96
NS = (250, 1000)
ALPHA_MAX = 120.0


@pytest.mark.slow
def test_escape_time_slope_in_ln_N_is_one_over_two_lambda():
    model = Committee(2, 2)
    fp = symmetric_fixed_point(model, eta=1.0)
    predicted = 1.0 / (2.0 * fp.escape_rate)
    alphas = np.linspace(0.0, ALPHA_MAX, 241)
    esc = []
    for N in NS:
        res = simulate(model, N, 1.0, ALPHA_MAX, seeds=SEEDS, alphas=alphas, method="overlaps",
                       start=lambda seed, N=N: near_fixed_point(fp, N, seed))
        assert res.status == "completed", res.message
        esc.append([escape_alpha(res.alpha, e, plateau=fp.eg) for e in res.eg])
    esc = np.array(esc)
    assert np.all(np.isfinite(esc)), "every seed must escape within alpha_max"
    slopes = (esc[1] - esc[0]) / np.log(NS[1] / NS[0])
    mean, se = slopes.mean(), slopes.std(ddof=1) / np.sqrt(SEEDS)
    margin = 0.25 * predicted
    assert se < margin / 3, f"too few seeds to test the slope: s.e. {se:.3g} vs margin {margin:.3g}"
    assert abs(mean - predicted) < margin, (
        f"escape-time slope in ln N {mean:.3g} +- {se:.2g}, predicted 1/(2 lambda) = {predicted:.3g}")
    # the escape really is later at larger N (the effect is many standard errors)
    assert mean > 5 * se


def test_near_fixed_point_is_the_fixed_point_plus_a_seeded_O_sqrt_N_asymmetry():
    from symphase._initial import overlaps
    from symphase._weights import weights_from_overlaps
    model = Committee(2, 2)
    fp = symmetric_fixed_point(model)
    Q1, R1, g1, _ = near_fixed_point(fp, 100, seed=7)
    _Q2, R2, _, _ = near_fixed_point(fp, 10_000, seed=7)
    assert g1 is None
    # same seed, same normalized asymmetry: R - R* scales exactly as N^(-1/2)
    np.testing.assert_allclose((R1 - fp.R) / 10.0, R2 - fp.R, rtol=1e-12, atol=1e-15)
    assert np.abs(R2 - fp.R).max() < 0.05 < np.abs(R1 - fp.R).max()
    # realisable: weights with exactly these overlaps exist (Gram matrix PSD)
    J, B = weights_from_overlaps(model, (Q1, R1), 100, seed=0)
    Q, R, _T = overlaps(J, B)
    np.testing.assert_allclose(Q, Q1, atol=1e-12)
    np.testing.assert_allclose(R, R1, atol=1e-12)
    # the students are no longer identical (the plateau's Q = C is broken)
    assert Q1[0, 0] + Q1[1, 1] - 2 * Q1[0, 1] > 0
    # different seeds, different starts; BN keeps the fixed point's gains
    assert not np.allclose(near_fixed_point(fp, 100, seed=8)[1], R1)
    bn = symmetric_fixed_point(Committee(2, 2, bn="exact"))
    np.testing.assert_array_equal(near_fixed_point(bn, 100, seed=0)[2], bn.g)


def test_near_fixed_point_bad_input():
    import pytest
    fp = symmetric_fixed_point(Committee(2, 2))
    with pytest.raises(ValueError, match="N"):
        near_fixed_point(fp, 3)
    with pytest.raises(ValueError, match="scale"):
        near_fixed_point(fp, 100, scale=0.0)
    with pytest.raises(TypeError, match="fp"):
        near_fixed_point("plateau", 100)
