"""The findings of the natural-gradient figures (Figs. 10-12, docs/model.md §14.8), each pinned cheaply.

Theory through the figures' own helpers (so the figures and these numbers cannot drift apart), and one
tiny run of the exact overlap chain. Tolerances are stated at each assertion with the reason.
"""
import numpy as np
import pytest

from symphase._initial import random_initial
from symphase._plateau import escape_alpha, plateau_value
from symphase._simulate import simulate
from symphase._state import State
from symphase.figures import FIGURES, fig10_natural_rates, fig11_natural_curves, fig12_natural_escape


def test_registered():
    for name in ("fig10_natural_rates", "fig11_natural_curves", "fig12_natural_escape"):
        assert name in FIGURES


@pytest.fixture(scope="module")
def rates():
    """Fig. 10's quick data: K = 2, 3, dampings 1, 1e-1, ..., 1e-4 (theory, about a second)."""
    return fig10_natural_rates.compute(quick=True)


def test_natural_rate_is_sgd_over_damping(rates):
    """Natural gradient at the coinciding plateau: lambda = lambda_SGD / eps exactly (F is null along the escape
    direction), plain and exact BN. 1e-6: the plain rate comes from central differences of the ODE (about 1e-8
    relative), BN's from a generalized eigenproblem."""
    eps = rates["damping"].values
    for rule in ("plain", "exact"):
        sgd = rates["rate_sgd"].sel(sgd_rule=rule).values[:, None]
        nat = rates["rate"].sel(preconditioner="natural", rule=rule).values
        np.testing.assert_allclose(nat * eps[None, :], np.broadcast_to(sgd, nat.shape), rtol=1e-6)


def test_unitwise_is_bounded(rates):
    """Unit-wise saturates as eps -> 0 at about twice SGD's rate (2.03 at K = 2, 1.86 at K = 3; 1 % for the
    rounding of the quoted numbers), and gains less than 0.2 % from eps = 1e-3 to 1e-4 (saturated)."""
    plain = rates["rate"].sel(preconditioner="unitwise", rule="plain")
    sgd = rates["rate_sgd"].sel(sgd_rule="plain")
    np.testing.assert_allclose((plain.isel(damping=-1) / sgd).values, [2.03, 1.86], rtol=1e-2)
    np.testing.assert_array_less((plain.isel(damping=-1) / plain.isel(damping=-2)).values, 1.002)
    # and it is below natural's rate at every damping below 1 (natural diverges like 1/eps, unit-wise does not)
    nat = rates["rate"].sel(preconditioner="natural", rule="plain")
    assert np.all((plain < nat).isel(damping=slice(1, None)).values)


def test_bn_delay_survives_natural_but_not_unitwise(rates):
    """Natural: BN/plain is SGD's ratio at every damping (0.111 at K = 2; rtol 1e-6 as above). Unit-wise at
    eps = 1e-4: BN's rate is plain's within 0.5 % (each unit's block, gain included, undoes BN's rescaling)."""
    nat = rates["rate"].sel(preconditioner="natural")
    sgd_ratio = (rates["rate_sgd"].sel(sgd_rule="exact") / rates["rate_sgd"].sel(sgd_rule="plain")).values
    ratio = (nat.sel(rule="exact") / nat.sel(rule="plain")).values
    np.testing.assert_allclose(ratio, np.broadcast_to(sgd_ratio[:, None], ratio.shape), rtol=1e-6)
    assert abs(sgd_ratio[0] - 0.111) < 1e-3
    unit = rates["rate"].sel(preconditioner="unitwise").isel(damping=-1)
    np.testing.assert_allclose(unit.sel(rule="exact").values, unit.sel(rule="plain").values, rtol=5e-3)


def _ode(case, alphas, what="eg", start=None):
    model = fig11_natural_curves._model(case)
    start = random_initial(model, 1000, seed=0) if start is None else start
    return fig11_natural_curves._ode(model, start, np.asarray(alphas, dtype=float), what)


def _escape(case, level):
    a = np.concatenate([[0.0], np.geomspace(0.5, 1000.0, 400)])
    return escape_alpha(a, _ode(case, a), plateau=level)


def test_random_start_odes_eta_half():
    """Fig. 11's ODE from seed 0's start (K = M = 2, eta = 0.5, N = 1000), escape at half plain SGD's plateau:
    SGD 155, BN exact 416, natural eps = 0.1 29.5 (5x faster), unit-wise 91 (0.1) and 79 (1e-3); natural
    eps = 1e-3 never escapes; BN + natural 75 (0.1) and 42 (1e-3). 3 %: the escape is read on a grid of 400
    log-spaced points (2 % apart), so a change of the ODE's path smaller than that may move it by one point."""
    a = np.concatenate([[0.0], np.geomspace(0.5, 1000.0, 400)])
    level = plateau_value(a, _ode("sgd", a))
    expect = {"sgd": 154.6, "bn": 416.3, "natural_0.1": 29.5, "unitwise_0.1": 90.7, "unitwise_0.001": 79.4,
              "bn_natural_0.1": 75.0, "bn_natural_0.001": 41.5}
    got = {case: _escape(case, level) for case in expect}
    for case, value in expect.items():
        assert got[case] == pytest.approx(value, rel=0.03), (case, got[case])
    assert got["sgd"] / got["natural_0.1"] > 4.5
    assert np.isnan(_escape("natural_0.001", level))


def test_small_damping_stalls_plain_but_not_bn():
    """At eta = 0.5, eps = 1e-3 the plain natural ODE from the symmetric start Q = I, R = 0 settles on a fixed
    point of the O(eta^2)-laden flow: eps_g = 0.0494 with anti-correlated students (C/Q = -0.395), above SGD's
    plateau (0.015-0.02); the same flow stays there from a random start (seed 0) at alpha = 1000. Under exact
    BN the norm grows (Q_11 from 1 to > 50 by alpha = 50: BN's effective learning rate g^2/Q_ii falls), and the
    rule escapes. 1e-3 absolute on eps_g and C/Q (the fixed point's quoted digits)."""
    sym = State(np.eye(2), np.zeros((2, 2)), None)
    eg = _ode("natural_0.001", [0.0, 50.0, 100.0], start=sym)
    Q = _ode("natural_0.001", [0.0, 100.0], "Q", start=sym)[-1]
    assert eg[1] == pytest.approx(0.0494, abs=1e-3) and eg[2] == pytest.approx(0.0494, abs=1e-3)
    assert Q[0, 1] / Q[0, 0] == pytest.approx(-0.395, abs=1e-3)
    assert _ode("natural_0.001", [0.0, 1000.0])[-1] == pytest.approx(0.0494, abs=1e-3)
    bn = State(np.eye(2), np.zeros((2, 2)), np.ones(2))
    Qbn = _ode("bn_natural_0.001", [0.0, 50.0], "Q", start=bn)[-1]
    assert Qbn[0, 0] > 50


def test_chain_natural_escapes_faster():
    """A tiny run of Fig. 12's set-up on the exact overlap chain (N = 250, 8 runs, eta = 0.5): natural gradient at
    eps = 0.1 leaves the plateau at least 3 times sooner on average than SGD (Fig. 12: 26 against 128 at N = 250,
    12 runs; the ratio 3 leaves room for 8 runs' sampling error, about 10 % on each mean), every run escaping."""
    means = {}
    level = 0.00780327245  # fig. 11/12's threshold: half plain SGD's plateau (the ODE from seed 0, N = 1000)
    for rule, a_max in (("sgd", 400.0), ("natural", 100.0)):
        model = fig12_natural_escape._model(rule)
        res = simulate(model, 250, 0.5, a_max, seeds=8, alphas=np.arange(0, a_max + 0.25, 0.5), method="overlaps")
        esc = np.array([escape_alpha(res.alpha, e, fraction=0.5, plateau=2 * level) for e in res.eg])
        assert np.all(np.isfinite(esc)), rule
        means[rule] = esc.mean()
    assert means["sgd"] / means["natural"] > 3, means
