"""The preconditioned rules through the public API (issue 20; docs/model.md §2.4, §14).

The model's ``preconditioner`` names a registered learning rule, and the same public functions run it:
``integrate``, ``rhs``, ``compare``, ``symmetric_fixed_point``, ``simulate`` (all three methods) and
``escape_time``. Each check compares with an independent route: SciPy's DOP853 on the reference right-hand
side (``symphase._natural_ode.natural_rhs``), the weight-space linearisation of ``curvature``, and the
simulation on the weights at finite N.
"""
from __future__ import annotations

import numpy as np
import pytest

import symphase as sp
from symphase import _natural_ode as nat_ode

CASES = {"natural": dict(preconditioner="natural", damping=0.1),
         "unitwise": dict(preconditioner="unitwise", damping=0.01),
         "natural-exact": dict(preconditioner="natural", damping=0.1, bn="exact"),
         "natural-paper": dict(preconditioner="natural", damping=0.1, bn="paper")}


@pytest.mark.parametrize("case", CASES)
def test_integrate_is_the_reference_ode(case):
    """``integrate`` (Dormand-Prince 5(4) on the rule's drift) against SciPy's DOP853 on the reference
    right-hand side, both at rtol 1e-10: the same trajectory to 1e-8 in eps_g (the tolerances' global error;
    measured 5e-10 at integrate's default rtol 1e-8), and ``rhs`` equal to the reference bit for bit."""
    model = sp.Committee(2, 2, **CASES[case])
    start = sp.random_initial(model, N=1000, seed=1)
    alphas = np.linspace(0.0, 40.0, 9)
    got = sp.integrate(model, 0.5, 40.0, start=start, alphas=alphas, rtol=1e-10, atol=1e-12)
    ref = nat_ode.integrate_natural(model, start.Q, start.R, 0.5, alphas, g0=start.g)
    assert got.status == "completed"
    assert np.max(np.abs(got.eg - ref["eg"])) <= 1e-8
    rates, want = sp.rhs(model, start, 0.5), nat_ode.natural_rhs(model, start.Q, start.R, 0.5, start.g)
    assert np.array_equal(rates.dQ, want[0]) and np.array_equal(rates.dR, want[1])
    # and it is not SGD's ODE: the test can tell the rules apart
    sgd = sp.integrate(model.with_(preconditioner=None, damping=1e-3), 0.5, 40.0, start=start, alphas=alphas)
    assert np.max(np.abs(sgd.eg - got.eg)) > 1e-3


def test_fixed_point_is_sgds_with_the_preconditioned_spectrum():
    """The symmetric fixed point of a preconditioned rule is SGD's (the gradient vanishes there), at eta = 0
    only; its escape rate is SGD's over the damping (natural), and BN's Jacobian, where the students coincide,
    is refused as a numerical failure while its escape rate comes from weight space (docs/model.md §14.6)."""
    sgd = sp.symmetric_fixed_point(sp.Committee(2, 2))
    nat = sp.symmetric_fixed_point(sp.Committee(2, 2, preconditioner="natural", damping=0.01))
    assert np.array_equal(nat.Q, sgd.Q) and np.array_equal(nat.R, sgd.R) and nat.eg == sgd.eg
    assert nat.escape_rate == pytest.approx(sgd.escape_rate / 0.01, rel=1e-9)
    with pytest.raises(ValueError, match=r"^eta: the fixed point of preconditioner='natural' is analysed at eta = 0"):
        sp.symmetric_fixed_point(sp.Committee(2, 2, preconditioner="natural"), 0.1)
    bn = sp.symmetric_fixed_point(sp.Committee(2, 2, bn="exact", preconditioner="natural", damping=0.01))
    with pytest.raises(sp.SymphaseError, match="singular numerically"):
        _ = bn.jacobian
    bn_sgd = sp.symmetric_fixed_point(sp.Committee(2, 2, bn="exact"))
    assert bn.escape_rate == pytest.approx(bn_sgd.escape_rate / 0.01, rel=1e-6)


def test_ode_against_the_weights_within_their_standard_error():
    """``compare`` on the weights (O(NK) natural steps, N = 500, 12 seeds, eta = 0.5, damping 0.1): at every
    record the mean of the runs' eps_g is the mean of the ODEs from the same starts within 4 standard errors
    of the runs plus 5/N (the O(1/N) drift of finite N); the runs' spread is real (s.e. > 0), so the test can
    fail."""
    model = sp.Committee(2, 2, preconditioner="natural", damping=0.1)
    c = sp.compare(model, 500, 0.5, 12.0, 12, alphas=np.linspace(0, 12, 7), method="weights")
    sim, ode = c.simulation.eg, c.ode_eg
    assert c.simulation.status == "completed" and np.all(np.isfinite(ode))
    se = sim.std(0, ddof=1) / np.sqrt(sim.shape[0])
    assert np.all(se[1:] > 0)
    assert np.all(np.abs(sim.mean(0) - ode.mean(0)) <= 4 * se + 5 / 500)


def test_the_sde_takes_the_rules_step_and_escape_time_runs_it():
    """``simulate(method="sde")`` takes the rule's default step (0.05 for SGD; smaller where the damping makes
    the preconditioned drift stiff, docs/model.md §14.7), and ``escape_time`` samples the preconditioned
    diffusion: at damping 0.1, eta = 0.5, N = 1000 the mean escape is far below SGD's (fig. 12: 30 against
    167), with every sample escaping."""
    stiff = sp.Committee(2, 2, preconditioner="natural", damping=1e-3)
    assert sp.simulate(stiff, 1000, 0.5, 1.0, seeds=1, method="sde").info["sde_step"] < 0.05
    assert sp.simulate(sp.Committee(2, 2), 1000, 0.5, 1.0, seeds=1, method="sde").info["sde_step"] == 0.05
    et = sp.escape_time(sp.Committee(2, 2, preconditioner="natural", damping=0.1), 1000, 0.5, samples=12, seed=0)
    assert et.status == "completed" and np.all(np.isfinite(et.samples))
    assert 15 < et.mean < 60


def test_what_a_preconditioned_rule_does_not_run_is_refused_in_one_line():
    model = sp.Committee(2, 2, preconditioner="natural")
    start = (0.5 * np.eye(2), 0.1 * np.eye(2))
    for call, pattern in [
        (lambda: sp.integrate(model, 0.5, 10.0, start=start, bands_N=1000), r"^bands_N: the fluctuation band"),
        (lambda: sp.rhs(model, start, 0.5, part="linear"), r"^part: rhs of preconditioner='natural'"),
        (lambda: sp.integrate(model.with_(preconditioner="adaptive"), 0.5, 10.0, start=start),
         r"^preconditioner: integrate does not run preconditioner='adaptive' yet; it runs in "
         r"simulate\(method='weights'\)"),
    ]:
        with pytest.raises(ValueError, match=pattern) as info:
            call()
        assert "\n" not in str(info.value)
