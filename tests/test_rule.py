"""The learning rule has one home (docs/model.md §2.4, "Adding a rule").

A rule is one entry of ``symphase._rule.RULES``: its per-example coefficient kernel, its
per-example rates and its drift. The check of that claim is a rule that lives only in this
file: SGD with a constant preconditioner ``c I``, ``dtheta = c * (SGD's step)``, registered
here and run by the engines unchanged. It must equal SGD at the learning rate ``c eta`` in all
three simulators (the weights, the exact chain in overlap space, the SDE):

* ``c = 2``: bit for bit (multiplying by a power of two is exact, so the two ways of scaling round
  alike). ``c = 1`` is not run: it is the weaker check (an engine that ignored the rule's kernel, or
  applied it twice, would pass it; ``c = 2`` fails both);
* ``c = 0.7``: to rounding. The rule scales SGD's coefficients, ``c (lr m h d)``, where SGD at
  ``c eta`` computes ``(c lr) m h d``: each coefficient differs by a few ulp (relative 1e-16)
  per step; over 300 steps at ``N = 60`` (``alpha = 5``) that is at most about 300 * 4e-16
  relative, amplified by the dynamics over ``alpha = 5`` by at most ``e^5``: about 2e-11. The
  tolerance 1e-9 (relative to the largest entry) is that with a margin of 50; a rule that
  really differed (say ``c^2`` in the square of the step) moves the state by 1e-2 and fails.
  The SDE is bit for bit at every ``c`` against SGD run through the same rule-generic engine
  (``Rule("sgd_generic", ...)``: SGD's kernels passed as arguments, as the toy's are): its
  rates and drift see ``eta c``, the same double as ``c eta``. Against SGD's cached
  ``sde_example_steps`` its first step agrees to rounding only: that kernel inlines the drift
  (``_kernels.rhs``), and the compiled inlined drift differs from the called one in the last bit
  (measured 2.8e-17 in the first step's drift), so longer paths are compared through the same engine.
"""
from __future__ import annotations

import numba
import numpy as np
import pytest

import symphase as sp
from symphase import _fluctuations as fl
from symphase import _kernels, _rng, _sgd
from symphase import _overlap_sgd as ov
from symphase import _rule as rl
from symphase._generated import rule as gen_rule
from symphase._weights import weights_from_overlaps

N, STEPS, ETA = 60, 300, 0.5
CASES = {
    "plain": {},
    "bn-paper": {"bn": "paper"},
    "bn-exact": {"bn": "exact"},
    "bn-exact-fixed-gain": {"bn": "exact", "gain": "fixed"},
    "plain-b3-noise": {"batch": 3, "noise": 0.3},
    "bn-exact-b3-noise": {"bn": "exact", "batch": 3, "noise": 0.3},
    "two-layer-wd": {"second_layer": "learned", "v_teacher": [1.0, 0.7], "weight_decay": 0.5},
    "linear-1/K-b2": {"second_layer": "learned", "activation": "linear", "scaling": "1/K", "batch": 2},
    "relu": {"activation": "relu"},
}
SDE_CASES = {k: CASES[k] for k in ("plain", "bn-paper", "bn-exact", "bn-exact-fixed-gain", "plain-b3-noise")}


def preconditioned(c: float) -> rl.Rule:
    """SGD with the constant preconditioner ``c I``: the rule's three kernels, written from SGD's."""

    @numba.njit(inline="always")
    def example(x, y, noise, state, consts, out):
        delta = gen_rule.sgd_example(x, y, noise, state, consts, out)
        _, a, p, dg, dv = out
        for i in range(a.shape[0]):
            a[i] = c * a[i]
            p[i] = c * p[i]
            dg[i] = c * dg[i]
            dv[i] = c * dv[i]
        return delta

    @numba.njit(inline="always")
    def rates(z, d, h, Q, R, g, eta, switches, psi):
        # c I on every step: the O(eta) part of psi times c, the O(eta^2) part times c^2
        fl.sgd_rates(z, d, h, Q, R, g, eta * c, switches, psi)

    @numba.njit
    def drift(y, f, ka):
        eta = ka.par[_kernels.ETA]
        ka.par[_kernels.ETA] = eta * c
        _kernels.rhs(y, f, ka)
        ka.par[_kernels.ETA] = eta

    return rl.Rule(f"sgd_times_{str(c).replace('.', '_')}", example, rates, drift,
                   doc=f"SGD with the constant preconditioner {c} I (tests only)")


@pytest.fixture(scope="module")
def toy_rules():
    rules = {c: rl.register(preconditioned(c)) for c in (2.0, 0.7)}
    rules["sgd_generic"] = rl.register(rl.Rule("sgd_generic", gen_rule.sgd_example, fl.sgd_rates, _kernels.rhs,
                                               doc="SGD through the rule-generic engines (tests only)"))
    yield rules
    for rule in rules.values():
        rl.unregister(rule.name)


def start(kw):
    model = sp.Committee(2, 2, tau=1.3, **kw)
    Q0, R0, _, _ = sp.random_initial(model, N, 1)
    g0 = np.array([0.9, 1.2]) if model.has_bn else np.ones(2)
    v0 = np.array([0.6, 1.3]) if model.learns_v else np.ones(2)
    return model, Q0, R0, g0, v0


def params(model, eta):
    return model.system.params(eta, eta2=0.5 * eta if model.learns_v else None)


def run_weights(kernels, kw, eta):
    model, Q0, R0, g0, v0 = start(kw)
    J, B = weights_from_overlaps(model, (Q0, R0), N, 0)
    Jt, g, v = np.ascontiguousarray(J.T), g0.copy(), v0.copy()
    did = kernels.sgd_steps(Jt, g, v, STEPS, _rng.rng_state(3), _sgd.weight_args(model, params(model, eta), B))
    assert did == STEPS
    return np.concatenate([Jt.ravel(), g, v])


def run_overlaps(kernels, kw, eta):
    model, Q, R, g, v = start(kw)
    did = kernels.overlap_steps(Q, R, g, v, STEPS, _rng.rng_state(4), ov.chain_args(model, params(model, eta), N))
    assert did == STEPS
    return np.concatenate([Q.ravel(), R.ravel(), g, v])


def sde_consts(model):
    return fl.SDEConsts(N=1000, b=model.batch, has_gain=model.has_bn, dalpha=0.05, blowup=1e6, psd_tol=1e-7,
                        examples=fl.SDE_EXAMPLES)


def run_sde(kernels, kw, eta):
    model, Q0, R0, g0, _ = start(kw)
    y = model.system.state(Q0, R0, g0 if model.has_bn else None).copy()
    ka = model.system.args(eta)
    did = kernels.sde_steps(y, ka, _rng.rng_state(5), 60, sde_consts(model), fl.sde_example_workspace(model))
    assert did == 60
    return y


RUNS = {"weights": run_weights, "overlaps": run_overlaps}


def test_sgd_is_the_registered_rule_and_its_kernels_are_the_engines():
    assert rl.RULES["sgd"] is rl.SGD and rl.get_rule("sgd") is rl.SGD
    k = rl.SGD.kernels
    assert (k.sgd_steps, k.overlap_steps, k.rate_moments, k.sde_steps) == (
        _sgd.sgd_steps, ov.overlap_steps, fl.rate_moments, fl.sde_example_steps)
    assert rl.SGD.supports == rl.FEATURES


def test_registry_refuses_bad_rules():
    with pytest.raises(ValueError, match="rule must be one of"):
        rl.get_rule("momentum")
    with pytest.raises(ValueError, match="already registered"):
        rl.register(rl.SGD)
    with pytest.raises(TypeError, match="example must be a numba.njit function"):
        rl.Rule("bad", lambda *a: 0.0, fl.sgd_rates, _kernels.rhs)
    with pytest.raises(ValueError, match="unknown features"):
        rl.Rule("bad", gen_rule.sgd_example, fl.sgd_rates, _kernels.rhs, frozenset({"momentum"}))
    with pytest.raises(TypeError, match="must be a symphase._rule.Rule"):
        rl.register("sgd")


def test_activation_codes_are_the_kernels():
    assert (gen_rule.ERF, gen_rule.LINEAR, gen_rule.RELU) == tuple(
        _kernels.ACTIVATIONS.index(a) for a in ("erf", "linear", "relu"))


@pytest.mark.parametrize("sim", RUNS)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.slow
def test_toy_rule_is_sgd_at_c_eta_bit_for_bit_for_c_2(toy_rules, sim, case):
    run = RUNS[sim]
    ref = run(rl.SGD.kernels, CASES[case], 2.0 * ETA)
    got = run(toy_rules[2.0].kernels, CASES[case], ETA)
    assert np.array_equal(got, ref), np.max(np.abs(got - ref))


@pytest.mark.parametrize("sim", RUNS)
@pytest.mark.parametrize("case", CASES)
def test_toy_rule_is_sgd_at_c_eta_to_rounding(toy_rules, sim, case):
    run = RUNS[sim]
    ref = run(rl.SGD.kernels, CASES[case], 0.7 * ETA)
    got = run(toy_rules[0.7].kernels, CASES[case], ETA)
    scale = np.max(np.abs(ref))
    assert np.max(np.abs(got - ref)) <= 1e-9 * scale
    # and it is a different run from SGD at eta: the test can tell the rules apart
    other = run(rl.SGD.kernels, CASES[case], ETA)
    assert np.max(np.abs(other - ref)) > 1e-3 * scale


@pytest.mark.parametrize("case", SDE_CASES)
@pytest.mark.slow
def test_toy_rule_sde_is_sgd_at_c_eta_bit_for_bit(toy_rules, case):
    for c in (2.0, 0.7):
        ref = run_sde(toy_rules["sgd_generic"].kernels, SDE_CASES[case], c * ETA)
        got = run_sde(toy_rules[c].kernels, SDE_CASES[case], ETA)
        assert np.array_equal(got, ref), (c, np.max(np.abs(got - ref)))


@pytest.mark.parametrize("case", ["plain", "bn-exact", "plain-b3-noise", "two-layer-wd", "relu"])
@pytest.mark.slow
def test_generic_engines_with_sgd_are_the_sgd_kernels(toy_rules, case):
    """SGD's kernels passed to the rule-generic engines: the weights and the chain bit for bit;
    the SDE's first step to rounding (its drift, see the module docstring; 4 ulp of the largest entry)."""
    generic = toy_rules["sgd_generic"].kernels
    for run in (run_weights, run_overlaps):
        assert np.array_equal(run(generic, CASES[case], ETA), run(rl.SGD.kernels, CASES[case], ETA))
    if case in SDE_CASES:
        model, Q0, R0, g0, _ = start(CASES[case])
        y0 = model.system.state(Q0, R0, g0 if model.has_bn else None)
        out = []
        for kern in (generic, rl.SGD.kernels):
            y, work = y0.copy(), fl.sde_example_workspace(model)
            assert kern.sde_steps(y, model.system.args(ETA), _rng.rng_state(5), 1, sde_consts(model), work) == 1
            out.append((y, work.f, work.acc))  # the state, the drift and the summed noise increments
        (y1, f1, a1), (y2, f2, a2) = out
        ulp = np.spacing(np.abs(f2).max())  # the inlined drift differs in the last bits (a few ulp)
        np.testing.assert_allclose(f1, f2, rtol=0, atol=4 * ulp)
        np.testing.assert_allclose(a1, a2, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(y1, y2, rtol=0, atol=4 * np.spacing(np.abs(y2).max()))


def test_toy_rule_diffusion_moments_are_sgd_at_c_eta(toy_rules):
    model, Q, R, g, _ = start({"bn": "exact"})
    P, W = fl.normal_rule(5, 4096)
    out = []
    for kern, eta in ((rl.SGD.kernels, 0.7 * ETA), (toy_rules[0.7].kernels, ETA)):
        work = fl.moment_workspace(model)
        assert kern.rate_moments(Q, R, g, model.system.T, model.system.params(eta), 1.0, True, P, W, work)
        out.append((work.mean, work.second))
    assert np.array_equal(out[0][0], out[1][0]) and np.array_equal(out[0][1], out[1][1])


def test_example_kernel_coefficients_are_the_documented_update():
    """``sgd_example`` at one example: ``a = lr c v h d``, ``p = a x/Q_ii`` (exact rule),
    ``dg = lr c v d x/(sigma sqrt Q_ii)``, ``dv = lr2 c Delta phi(u)``, ``d = Delta phi'(h x)``, with
    ``Delta = sum_n vt_n phi(y_n) + noise - c sum_i v_i phi(h_i x_i)`` (erf): each against numpy's
    own evaluation of the formula, to 4 ulp (a different order of the same products)."""
    from math import erf, exp, pi, sqrt
    x, y = np.array([0.3, -1.1]), np.array([0.7, 0.2])
    h, inv_s, q = np.array([1.2, 0.8]), np.array([0.6, 0.5]), np.array([2.0, 3.1])
    v, vt = np.array([0.9, 1.4]), np.array([1.0, 0.5])
    lr, lr2, cs, noise = 0.01, 0.02, 0.5, 0.05
    out = tuple(np.empty(2) for _ in range(5))
    delta = gen_rule.sgd_example(x, y, noise, (h, inv_s, q, v, vt), (lr, lr2, cs, gen_rule.ERF, True, True, True),
                                 out)
    phi = np.vectorize(lambda u: erf(u / sqrt(2)))
    want_delta = float(np.sum(vt * phi(y)) + noise - cs * np.sum(v * phi(h * x)))
    d = want_delta * np.sqrt(2 / pi) * np.array([exp(-(hh * xx) ** 2 / 2) for hh, xx in zip(h, x)])
    a = lr * cs * v * h * d
    want = (d, a, a * x / q, lr * cs * v * d * x * inv_s, lr2 * cs * want_delta * phi(h * x))
    assert delta == pytest.approx(want_delta, rel=4e-16, abs=0)
    for got, w in zip(out, want):
        np.testing.assert_allclose(got, w, rtol=1e-15, atol=0)


# -- the rule through the public API: the model names it (docs/model.md §2.4) ------------------------------------

def test_a_registered_rule_is_a_value_of_the_models_preconditioner(toy_rules):
    """Registering a rule adds its name to ``Committee(preconditioner=...)``'s choices (so to the CLI option
    and the sweep axis, which are read from the field); the model then selects it; unregistering removes it."""
    name = toy_rules[0.7].name
    model = sp.Committee(2, 2, preconditioner=name)
    assert rl.for_model(model) is toy_rules[0.7] and rl.for_model(sp.Committee(2, 2)) is rl.SGD
    assert name in sp.Committee.FIELDS_BY_NAME["preconditioner"].choices
    rule = rl.register(preconditioned(0.3))
    rl.unregister(rule.name)
    with pytest.raises(ValueError, match=r"^preconditioner must be one of 'none', 'natural', 'unitwise', 'adaptive'"):
        sp.Committee(2, 2, preconditioner=rule.name)
    with pytest.raises(ValueError, match="cannot be unregistered"):
        rl.unregister("natural")


@pytest.mark.parametrize("method", ["weights", "overlaps", "sde"])
def test_the_toy_rule_runs_through_simulate_as_sgd_at_c_eta(toy_rules, method):
    """``simulate`` runs the rule the model names, with no change to the simulators: SGD with ``0.7 I`` equals
    SGD at ``0.7 eta`` on every simulator (to rounding, 1e-9 relative: the module docstring's bound; the SDE,
    whose drift is the toy's own call of ``_kernels.rhs`` rather than the inlined one, the same), and differs
    from SGD at ``eta`` by far more (the test can fail)."""
    kw = dict(seeds=2, alphas=np.linspace(0, 3, 4), method=method)
    toy = sp.simulate(sp.Committee(2, 2, bn="exact", preconditioner=toy_rules[0.7].name), 60, ETA, 3.0, **kw)
    ref = sp.simulate(sp.Committee(2, 2, bn="exact"), 60, 0.7 * ETA, 3.0, **kw)
    other = sp.simulate(sp.Committee(2, 2, bn="exact"), 60, ETA, 3.0, **kw)
    assert toy.status == ref.status == "completed"
    scale = np.max(np.abs(ref.Q))
    assert np.max(np.abs(toy.Q - ref.Q)) <= 1e-9 * scale and np.max(np.abs(toy.R - ref.R)) <= 1e-9 * scale
    assert np.max(np.abs(other.Q - ref.Q)) > 1e-3 * scale


def test_the_toy_rule_runs_through_integrate_as_sgd_at_c_eta(toy_rules):
    """``integrate`` steps the rule's drift with SGD's integrators (``rk4_steps_with``, ``dopri_segment_with``):
    the same trajectory as SGD's ODE at ``0.7 eta`` to rounding (1e-12 relative: the same double ``c eta`` in
    the same right-hand side; only the compiled call differs), in both methods."""
    model = sp.Committee(2, 2, preconditioner=toy_rules[0.7].name)
    start = sp.random_initial(model, N=200, seed=3)
    for method in ("adaptive", "rk4"):
        got = sp.integrate(model, ETA, 40.0, start=start, method=method)
        ref = sp.integrate(sp.Committee(2, 2), 0.7 * ETA, 40.0, start=start, method=method)
        assert got.status == ref.status == "completed" and np.array_equal(got.alpha, ref.alpha)
        assert np.max(np.abs(got.Q - ref.Q)) <= 1e-12 * np.max(np.abs(ref.Q))
