"""The two-layer network (docs/model.md §13): a trainable second layer, the teacher's second
layer, output scaling, linear activation and weight decay, with and without batch norm.

Claims tested:
- the ODE equals the field's reference code, nn2pp's ``scmpp_ode`` (Goldt et al. 2019), on five
  configurations (``tests/data/nn2pp_reference.json``, provenance in ``nn2pp_reference.md``);
- with the second layer fixed at 1 and no weight decay the rates are the committee machine's,
  and only the products ``c v`` matter (scaling against second-layer weights);
- eps_g of the linear network is ``|c_M B^T v* - c J^T v|^2 tau / 2`` computed from weights;
- SGD on the weights (``simulate``) follows the ODE within its Monte Carlo error, for a learned
  second layer with weight decay, the linear network with ``1/K`` scaling, and exact-rule BN;
- the ReLU simulator's closed-form eps_g matches its test-set estimate;
- bad input names its parameter.
"""
import json
from pathlib import Path

import numpy as np
import pytest

import symphase

DATA = Path(__file__).parent / "data" / "nn2pp_reference.json"
Q0 = np.array([[0.5, 0.05], [0.05, 0.4]])
R0 = np.array([[0.1, 0.02], [0.03, 0.08]])


def _nn2pp_cases():
    ref = json.loads(DATA.read_text())["configurations"]
    return [pytest.param(c, id=name) for name, c in ref.items()]


@pytest.mark.parametrize("case", _nn2pp_cases())
def test_ode_equals_nn2pp_scmpp_ode(case):
    """symphase's ODE against nn2pp's (sgoldt/nn2pp 8e305cc, scmpp_ode.cpp; Euler, Richardson-extrapolated
    from dt = 2.5e-4 and 1.25e-4). Tolerance per entry: 3x the reference's own error estimate ``error``
    (the difference of two Richardson extrapolations; the true error is about error/3) plus 1e-10 for
    our adaptive integration at rtol = 1e-12."""
    c = case
    model = symphase.Committee(c["K"], c["M"], second_layer="learned" if c["both"] else "fixed", v_teacher=c["A"],
                               activation="erf" if c["g"] == 1 else "linear", weight_decay=c["wd"],
                               noise=c["noise_variance"], T=c["T0"])
    kw = {"eta2": c["lr2"]} if c["both"] else {}
    res = symphase.integrate(model, c["lr"], max(c["alphas"]), start=(c["Q0"], c["R0"], None, c["v0"]),
                             alphas=[0.0] + list(c["alphas"]), rtol=1e-12, atol=1e-14, eg_tol=0, **kw)
    res.raise_for_status()
    for j, point in enumerate(c["reference"], start=1):
        assert res.alpha[j] == point["alpha"]
        for key in ("eg", "Q", "R", "v"):
            ours = np.asarray(getattr(res, key)[j])
            tol = 3 * np.asarray(point["error"][key]) + 1e-10
            assert np.all(np.abs(ours - np.asarray(point[key])) <= tol), (key, point["alpha"])
    if not c["both"]:  # a fixed second layer stays where it was put
        assert np.all(res.v == np.asarray(c["v0"]))


def _random_state(model, rng):
    K, M = model.K, model.M
    W = rng.standard_normal((K + M, K + M + 3)) / np.sqrt(K + M + 3)
    G = W @ W.T
    T = G[K:, K:]
    model = model.with_(T=T)
    return model, G[:K, :K], G[:K, K:], (1.0 + 0.3 * rng.standard_normal(K) if model.has_bn else None)


@pytest.mark.parametrize("bn", [None, "paper", "exact"])
def test_second_layer_fixed_at_one_is_the_committee_machine(bn):
    """A learned second layer at v = 1 (no weight decay) moves Q, R, g exactly as the committee machine
    does (the SymPy identities of derivations/derive.py, here through the kernels): equal to rounding
    (1e-13 relative), and its own rate is eta2 <Delta phi(u_i)>."""
    rng = np.random.default_rng(1)
    base, Q, R, g = _random_state(symphase.Committee(3, 2, bn=bn, batch=2, noise=0.01), rng)
    two = base.with_(second_layer="learned")
    ref = symphase.rhs(base, (Q, R, g), 0.7)
    got = symphase.rhs(two, (Q, R, g, np.ones(3)), 0.7, eta2=0.3)
    for a, b_ in zip(ref, got[:3]):
        if a is not None:
            np.testing.assert_allclose(b_, a, rtol=1e-13, atol=1e-15)
    assert got[3].shape == (3,) and np.all(np.isfinite(got[3]))
    # dv_i = eta2 <Delta phi(u_i)> by Monte Carlo over the fields (independent of the closed forms):
    # 4e5 samples, tolerance 5 standard errors
    C = base.tau * np.block([[Q, R], [R.T, base.T]])
    if bn is not None:
        h = g / np.sqrt(base.tau * np.diag(Q))
        H = np.diag(np.concatenate([h, np.ones(2)]))
        C = H @ C @ H
    z = rng.multivariate_normal(np.zeros(5), C, size=400_000, method="eigh")
    from scipy.special import erf
    phi = erf(z / np.sqrt(2))
    delta = phi[:, 3:].sum(1) - phi[:, :3].sum(1)
    samples = 0.3 * delta[:, None] * phi[:, :3]
    se = samples.std(0) / np.sqrt(len(samples))
    assert np.all(np.abs(got[3] - samples.mean(0)) < 5 * se)


def test_only_the_products_c_v_matter():
    """Output scaling 1/K with v = K (and teacher 1/M with v* = M) is the plain sum with v = v* = 1:
    the rates and eps_g agree to rounding (1e-13 relative)."""
    rng = np.random.default_rng(2)
    base, Q, R, _ = _random_state(symphase.Committee(3, 2), rng)
    scaled = base.with_(scaling="1/K", v_teacher=[2.0, 2.0])
    a = symphase.rhs(base, (Q, R), 0.5)
    b_ = symphase.rhs(scaled, (Q, R, None, [3.0, 3.0, 3.0]), 0.5)
    np.testing.assert_allclose(b_[0], a[0], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(b_[1], a[1], rtol=1e-13, atol=1e-15)
    assert symphase.generalization_error(scaled, (Q, R, None, [3.0, 3.0, 3.0])) == pytest.approx(
        symphase.generalization_error(base, (Q, R)), rel=1e-13)


def test_linear_network_error_from_its_weights():
    """For phi(u) = u the networks are linear: eps_g = tau |c_M B^T v* - c J^T v|^2 / 2 (no Gaussian
    integral involved), equal to the generated closed form to rounding."""
    rng = np.random.default_rng(3)
    N, K, M = 40, 3, 2
    J, B = rng.standard_normal((K, N)) / np.sqrt(N), rng.standard_normal((M, N)) / np.sqrt(N)
    v, vt = np.array([0.5, -1.2, 0.8]), np.array([1.0, 0.3])
    model = symphase.Committee(K, M, T=B @ B.T, activation="linear", scaling="1/sqrt(K)", v_teacher=vt, tau=1.7)
    w = model.teacher_scale * B.T @ vt - model.scale * J.T @ v
    expected = 0.5 * model.tau * w @ w
    assert symphase.generalization_error(model, (J @ J.T, J @ B.T, None, v)) == pytest.approx(expected, rel=1e-12)


SIM_CASES = {
    "learned v, v*, weight decay, eta2": (dict(second_layer="learned", v_teacher=[1.0, 0.7], weight_decay=0.01),
                                         dict(eta2=0.3)),
    "linear, 1/K": (dict(second_layer="learned", activation="linear", scaling="1/K"), {}),
    "exact BN, learned v": (dict(bn="exact", second_layer="learned"), {}),
}


@pytest.mark.parametrize("method", ["weights", "overlaps"])
@pytest.mark.parametrize("name", list(SIM_CASES))
def test_simulation_follows_the_ode(name, method):
    """SGD at N = 1000 (8 seeds, 0..7), on the weights and as the exact overlap chain, from the ODE's
    start: the seed mean of eps_g and of v within 4 standard errors of the ODE, plus 2% of the value for
    the O(1/N) finite-size bias."""
    kw, run = SIM_CASES[name]
    model = symphase.Committee(2, 2, **kw)
    alphas = [0.0, 2.0, 5.0, 10.0]
    v0 = [0.6, 0.4]
    sim = symphase.simulate(model, 1000, 0.5, 10.0, seeds=8, start=(Q0, R0, None, v0), alphas=alphas,
                            method=method, **run)
    ode = symphase.integrate(model, 0.5, 10.0, start=(Q0, R0, None, v0), alphas=alphas, **run).raise_for_status()
    sim.raise_for_status()
    se = sim.eg.std(0, ddof=1) / np.sqrt(8)
    assert np.all(np.abs(sim.eg.mean(0) - ode.eg) <= 4 * se + 0.02 * ode.eg + 1e-12)
    se_v = sim.v.std(0, ddof=1) / np.sqrt(8)
    assert np.all(np.abs(sim.v.mean(0) - ode.v) <= 4 * se_v + 0.02 * np.abs(ode.v) + 1e-12)
    assert np.any(np.abs(ode.v[-1] - v0) > 0.05)  # the second layer did learn


def test_relu_simulator_error_is_its_test_error():
    """ReLU (simulator only): the arc-cosine closed form of eps_g at the recorded overlaps against the
    test-set estimate on 20000 fresh inputs (seeds 0, 1): within 4 standard errors, the standard error of
    a mean of Delta^2/2 over Gaussian Delta being eps_g sqrt(2/n_test)."""
    model = symphase.Committee(2, 2, second_layer="learned", activation="relu")
    res = symphase.simulate(model, 400, 0.5, 3.0, seeds=2, n_test=20_000, alphas=[0.0, 3.0])
    res.raise_for_status()
    se = res.eg * np.sqrt(2 / 20_000)
    assert np.all(np.abs(res.eg - res.eg_test) < 4 * se)
    assert res.model.activation == "relu" and res.to_dict()["model"]["activation"] == "relu"


def test_defaults_are_the_committee_machine():
    model = symphase.Committee(2, 2)
    assert model.is_committee and not model.learns_v and model.layout.size == 7
    assert repr(model) == "Committee(K=2, M=2, bn=None, gain='learned', tau=1.0, batch=1, noise=0.0)"
    two = symphase.Committee(2, 2, bn="paper", second_layer="learned")
    assert two.layout.size == 3 + 4 + 2 + 2 and two.layout.labels()[-2:] == ["v_0", "v_1"]
    res = symphase.integrate(two, 0.5, 1.0, start=(Q0, R0, None, [0.3, 0.9]), eta2=0.2)
    assert res.v.shape == (res.alpha.size, 2) and res.eta2 == 0.2
    assert "v" in res.to_xarray() and res.to_dict()["eta2"] == 0.2
    assert {"v_0", "v_1"} <= set(res.to_dataframe().columns)
    sim = symphase.simulate(two, 50, 0.5, 1.0, seeds=2, alphas=[0.0, 1.0], start={"v": [0.3, 0.9]})
    frame = sim.to_dataframe()
    assert list(frame["v_0"][frame["alpha"] == 0.0]) == [0.3, 0.3] and "v" in sim.to_xarray()


@pytest.mark.parametrize("kwargs, match", [
    (dict(second_layer="both"), "second_layer must be one of"),
    (dict(scaling="mean"), "scaling must be one of"),
    (dict(activation="tanh"), "activation must be one of"),
    (dict(weight_decay=-0.1), "weight_decay"),
    (dict(v_teacher=[1.0]), "v_teacher"),
    (dict(v_teacher=[1.0, np.nan]), "v_teacher"),
])
def test_bad_model_settings_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        symphase.Committee(2, 2, **kwargs)


def test_bad_run_settings_are_named():
    fixed = symphase.Committee(2, 2)
    learned = symphase.Committee(2, 2, second_layer="learned")
    with pytest.raises(ValueError, match="eta2"):
        symphase.integrate(fixed, 0.5, 1.0, start=(Q0, R0), eta2=0.1)
    with pytest.raises(ValueError, match="eta2"):
        symphase.integrate(learned, 0.5, 1.0, start=(Q0, R0), eta2=-1.0)
    with pytest.raises(ValueError, match=r"start\.v"):
        symphase.integrate(learned, 0.5, 1.0, start=(Q0, R0, None, [1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="N: the fluctuation theory"):
        symphase.integrate(learned, 0.5, 1.0, start=(Q0, R0), bands_N=1000)
    with pytest.raises(ValueError, match="method='weights' or 'overlaps'"):
        symphase.simulate(learned, 100, 0.5, 1.0, method="sde")
    with pytest.raises(TypeError, match=r"Committee\(K, M, activation=\"relu\"\)"):  # the model's now
        symphase.simulate(fixed, 100, 0.5, 1.0, activation="linear")


@pytest.mark.parametrize("bn", [None, "paper", "exact"])
def test_learned_second_layer_plateau_at_small_eta(bn):
    """eta -> 0: the plateau with a learned second layer has every v_i = v* = 1 (to 1e-12) and the same
    escape rate as a fixed one (to 1e-10 relative): the v modes do not couple to the escape direction.
    The weight Hessian with v among the parameters still gives lambda = -eta mu_min (docs/model.md §5.2)."""
    fixed = symphase.symmetric_fixed_point(symphase.Committee(3, 3, bn=bn))
    learned = symphase.symmetric_fixed_point(symphase.Committee(3, 3, bn=bn, second_layer="learned"))
    np.testing.assert_allclose(learned.v, 1.0, atol=1e-12)
    assert learned.escape_rate == pytest.approx(fixed.escape_rate, rel=1e-10)
    assert learned.weight_hessian.shape[0] == fixed.weight_hessian.shape[0] + 3
    if bn is None:
        assert -learned.weight_hessian_eigenvalues[0] == pytest.approx(learned.escape_rate, rel=1e-8)


def test_learned_second_layer_shrinks_and_slows_the_plateau_at_finite_eta():
    """Finding (docs/model.md §13): at eta = 0.3 (plain, K = M = 2..4) the learned v_i settle below 1 on
    the plateau and the escape rate falls below the fixed layer's (pinned: v < 0.95, rate lower by > 4%)."""
    for K in (2, 3, 4):
        fixed = symphase.symmetric_fixed_point(symphase.Committee(K, K), eta=0.3)
        learned = symphase.symmetric_fixed_point(symphase.Committee(K, K, second_layer="learned"), eta=0.3)
        assert np.all(learned.v < 0.95) and np.ptp(learned.v) == 0
        assert learned.escape_rate < 0.96 * fixed.escape_rate
        assert learned.eg < fixed.eg


@pytest.mark.parametrize("layer", ["fixed", "learned"])
def test_one_over_K_scaling_slows_escape_by_K_squared(layer):
    """With both outputs scaled by 1/K (K = M) the error signal and the gradient each shrink by 1/K:
    at eta -> 0 the escape rate is lambda_sum / K^2 exactly (to 1e-9 relative)."""
    for K in (2, 3, 4):
        s = symphase.symmetric_fixed_point(symphase.Committee(K, K, second_layer=layer))
        c = symphase.symmetric_fixed_point(symphase.Committee(K, K, second_layer=layer, scaling="1/K"))
        assert c.escape_rate == pytest.approx(s.escape_rate / K**2, rel=1e-9)


@pytest.mark.parametrize("kw", [dict(second_layer="learned"), dict(bn="exact", second_layer="learned"),
                                dict(bn="paper", second_layer="fixed", scaling="1/sqrt(K)"),
                                dict(second_layer="learned", v_teacher=[0.8, 0.8, 0.8], weight_decay=0.02,
                                     scaling="1/K", noise=0.01, batch=2)])
def test_reduced_two_layer_rates_are_the_full_odes_on_the_symmetric_subspace(kw):
    """derivations/symmetric.py's two-layer rates (K a symbol, field sums by index classes) against the
    full ODE at symmetric states of K = M = 3, with v, c, v* and weight decay away from 1 and 0: equal to
    rounding (1e-11 absolute; the two evaluate the same closed forms in different orders)."""
    from symphase._fixedpoint import symmetric_state
    model = symphase.Committee(3, 3, **kw)
    g = 1.3 if model.has_bn else None
    v = 0.7
    for eta in (0.0, 0.4):
        red = dict(symphase.reduced_rhs(model, 0.6, 0.1, 0.3, 0.05, g, eta=eta, v=v,
                                        eta2=0.25 if model.learns_v and eta else None).items())
        y = symmetric_state(model, 0.6, 0.1, 0.3, 0.05, g, v=v if model.learns_v else None)
        full = model.system.rhs(y, eta if eta else 1.0, part="full" if eta else "linear",
                                v=None if model.learns_v else np.full(3, v),
                                eta2=0.25 if model.learns_v and eta else (None if eta else 1.0))
        lay = model.layout
        want = {"Q": full[lay.Q_index[0, 0]], "C": full[lay.Q_index[0, 1]], "R": full[lay.R_index[0, 0]],
                "S": full[lay.R_index[0, 1]]}
        if model.has_bn:
            want["g"] = full[lay.g_index[0]]
        if model.learns_v:
            want["v"] = full[lay.v_index[0]]
        if eta == 0 and model.weight_decay:  # the eta -> 0 part has no weight decay: remove it from the full
            continue
        assert set(red) == set(want)
        for k in want:
            assert red[k] == pytest.approx(want[k], abs=1e-11), (k, eta)


@pytest.mark.parametrize("K, M, v, eta, tau, scaling", [(3, 2, [1.0, 1.0, 1.0], 0.2, 1.0, "sum"),
                                                        (4, 2, [0.5, 1.0, -0.7, 0.3], 0.5, 1.3, "1/sqrt(K)"),
                                                        (2, 2, [1.0, 1.0], 0.1, 1.0, "1/K")])
def test_linear_network_asymptotic_error_with_noise_is_the_lms_closed_form(K, M, v, eta, tau, scaling):
    """A linear student with a fixed second layer is online LMS on w = c sum_i v_i J_i with the learning
    rate eta_eff = eta c^2 |v|^2 (K > M or not): the error e = w - w* obeys
    d|e|^2/dalpha = -2 eta_eff tau |e|^2 + eta_eff^2 tau (tau |e|^2 + noise), so the asymptotic error is
    eps_g* = eta_eff tau noise / (2 (2 - eta_eff tau)) (derived here; it diverges at eta_eff tau = 2).
    The ODE at alpha = 4000 from a random start agrees to 1e-7 relative (the transient has decayed as
    exp(-2 eta_eff tau alpha); the integration tolerance is 1e-11)."""
    model = symphase.Committee(K, M, activation="linear", noise=0.01, tau=tau, scaling=scaling)
    Q0, R0, _, _ = symphase.random_initial(model, N=1000, seed=0)
    res = symphase.integrate(model, eta, 4000.0, start=(Q0, R0, None, v), eg_tol=0, rtol=1e-11, atol=1e-14)
    res.raise_for_status()
    eta_eff = eta * model.scale**2 * np.sum(np.square(v))
    predicted = eta_eff * tau * model.noise / (2 * (2 - eta_eff * tau))
    assert res.eg[-1] == pytest.approx(predicted, rel=1e-7)


def _asymptotic_error_per_eta_noise(model, etas, seed=1, alpha=3e6):
    Q0, R0, _, _ = symphase.random_initial(model, N=10000, seed=seed)
    out = []
    for eta in etas:
        res = symphase.integrate(model, eta, alpha, start=(Q0, R0), eg_tol=0, rtol=1e-10, atol=1e-16,
                                 alphas=np.geomspace(1.0, alpha, 30)).raise_for_status()
        out.append(res.eg[-1] / (eta * model.noise))
    return out, res


@pytest.mark.parametrize("K, M", [(2, 2), (3, 2), (4, 3)])
@pytest.mark.slow
def test_goldt_asymptotic_error_small_noise(K, M):
    """Goldt et al. (NeurIPS 2019): an erf student trained on its first layer only (v = v* = 1), K = M + L,
    output noise sigma^2, reaches eps_g* = eta sigma^2 (L + M/sqrt 3)/(2 pi) + O(eta^2 sigma^2). The L part
    is derived independently: an unused unit has q = Q_ll -> 0 with dq/dalpha = -(4/pi) eta q +
    (2/pi) eta^2 sigma^2 (G_ll = -(2/pi) q, J2_ll = 2/pi), so q* = eta sigma^2/2 and it adds q*/pi; the
    1/sqrt 3 comes from J2 = 2/(pi sqrt 3) at a perfectly learned unit. Measured on the ODE at
    eta = 0.04, 0.02, 0.01 (sigma^2 = 1e-4, alpha = 3e6 from a random start, seed 1), eps_g*/(eta sigma^2)
    Richardson-extrapolated to eta -> 0 to second order: within 5e-5 relative (the first-order
    extrapolations differ from it by <= 7e-4 and 1.7e-4, shrinking 4x per halving: the O(eta^3) remainder
    is about 1e-5)."""
    a, _ = _asymptotic_error_per_eta_noise(symphase.Committee(K, M, noise=1e-4), (0.04, 0.02, 0.01))
    r1, r2 = 2 * a[1] - a[0], 2 * a[2] - a[1]
    assert (4 * r2 - r1) / 3 == pytest.approx((K - M + M / np.sqrt(3)) / (2 * np.pi), rel=5e-5)


@pytest.mark.slow
def test_two_extra_units_cancel_in_pairs_instead_of_dying():
    """Finding (docs/model.md §13.1): with L = 2 extra erf units (K = 4, M = 2, seed 1) SGD does not switch
    both off: they become an antipodal pair J_a = -J_b (Q_aa = Q_bb = -Q_ab = 0.10, phi odd, so their
    outputs cancel), and eps_g* falls below Goldt et al.'s L + M/sqrt 3 by more than 3% (0.482 against
    0.502 per eta sigma^2 at first-order extrapolation; a tolerance far above its 1e-3 truncation error)."""
    a, res = _asymptotic_error_per_eta_noise(symphase.Committee(4, 2, noise=1e-4), (0.05, 0.025))
    Q = res.Q[-1]
    pair = [i for i in range(4) if 0.01 < Q[i, i] < 0.5]
    assert len(pair) == 2
    i, k = pair
    assert Q[i, k] == pytest.approx(-Q[i, i], rel=1e-3) and Q[k, k] == pytest.approx(Q[i, i], rel=1e-3)
    assert 2 * a[1] - a[0] < 0.97 * (2 + 2 / np.sqrt(3)) / (2 * np.pi)


def test_from_a_random_start_a_learned_layer_lengthens_plain_and_shortens_bn_plateaus():
    """Finding (docs/model.md §13.1, Fig. 9): K = M = 3, eta = 0.3, the ODE from the paper's random start
    (N = 1000, seed 0), escape below half the committee plateau's eps_g. A learned second layer makes the
    plain plateau longer (417 -> 460) and both BN plateaus shorter (paper 1030 -> 856, exact 1798 -> 1608),
    and BN still delays escape (> 1.8x plain). Margins of 5% on deterministic ODE numbers whose
    resolution is the output grid (400 log-spaced points, ~2% spacing)."""
    from symphase.figures.fig9_two_layer import _random_start_length
    length = {(rule, layer): _random_start_length(symphase.Committee(3, 3, bn=rule, second_layer=layer), 0.3)
              for rule in ("plain", "paper", "exact") for layer in ("fixed", "learned")}
    assert length["plain", "learned"] > 1.05 * length["plain", "fixed"]
    for rule in ("paper", "exact"):
        assert length[rule, "learned"] < 0.95 * length[rule, "fixed"]
        assert min(length[rule, "fixed"], length[rule, "learned"]) > 1.8 * length["plain", "learned"]


def test_fixed_gain_bn_plateau_with_a_learned_second_layer():
    """BN with a fixed gain pins the effective norm at 1, so its plateau has C < Q (docs/model.md §4.3).
    With a learned second layer (eta -> 0, exact rule) the plateau is found as well (a fixed point of the
    full ODE to 1e-12, checked on construction): v settles below 1, equal for every unit (pinned: K = 2..4,
    v in (0.55, 0.8)), the students move closer together (C/Q > 0.5 against < 0.1) and eps_g is lower."""
    for K in (2, 3, 4):
        fixed = symphase.symmetric_fixed_point(symphase.Committee(K, K, bn="exact", gain="fixed"))
        learned = symphase.symmetric_fixed_point(symphase.Committee(K, K, bn="exact", gain="fixed",
                                                                    second_layer="learned"))
        assert np.ptp(learned.v) == 0 and 0.55 < learned.v[0] < 0.8
        assert learned.Q[0, 1] / learned.Q[0, 0] > 0.5
        assert fixed.Q[0, 1] / fixed.Q[0, 0] < 0.1
        assert learned.eg < fixed.eg and learned.escape_rate > 0


def test_sweep_over_the_second_layer(tmp_path):
    """Sweeps take the two-layer settings as model parameters; a point at the committee machine's values
    keeps the key it had before they existed (older stores resume)."""
    from symphase._sweep import TASKS
    from symphase._sweep_tasks import _key
    ds = symphase.sweep("fixed_point", {"second_layer": ["fixed", "learned"], "scaling": ["sum", "1/K"]},
                        fixed={"K": 2}, store=tmp_path, scheduler="sync")
    rate = ds.to_xarray()["escape_rate"]
    np.testing.assert_allclose(rate.sel(scaling="1/K").values, rate.sel(scaling="sum").values / 4, rtol=1e-9)
    np.testing.assert_allclose(rate.sel(second_layer="learned").values, rate.sel(second_layer="fixed").values,
                               rtol=1e-9)
    task = TASKS["fixed_point"]
    point = {**task.defaults, "K": 2}
    old = {k: v for k, v in point.items() if k not in ("second_layer", "scaling", "activation", "weight_decay")}
    assert _key(task, point) == _key(task, old) != _key(task, {**point, "second_layer": "learned"})
