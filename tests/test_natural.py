"""Preconditioned SGD on the weights (issue 20; docs/model.md §14): ``Committee(preconditioner=, damping=)``.

Pinned here:

* one step of ``natural`` / ``unitwise`` equals ``(F + eps I)^-1`` (F's diagonal blocks for ``unitwise``)
  applied to SGD's step from the same example(s), with ``F`` the explicit ``NK x NK`` population Fisher
  of :func:`symphase._curvature.fisher_closed_form` at ``N = 6..10`` (``NK + K`` with BN's learned
  gains), plain and both BN rules, to rounding;
* ``F -> 0`` (the damping alone): SGD bit for bit at ``eps = 1``, SGD at ``eta/eps`` to rounding (plain,
  both BN rules);
* ``unitwise`` is ``natural`` bit for bit where F is one block (``K = 1``) and differs at ``K = 2``;
* bad input: one line each, naming the option.
"""
from __future__ import annotations

import numpy as np
import pytest

import symphase as sp
from symphase import _natural as nat
from symphase import _natural_ode as nat_ode
from symphase import _overlap_sgd as ov
from symphase import _sgd as sgd
from symphase._curvature import fisher_closed_form
from symphase._model import DEFAULT_DAMPING
from symphase._rng import rng_state
from symphase._sweep import check_sweep

#: Rounding of one preconditioned step, relative to its largest component: the explicit solve and the
#: bulk/span closed form differ by the conditioning of F + eps I (up to ~1e3 at eps = 1e-3 here) times a
#: few ulps; measured up to 6e-15.
STEP_RTOL = 1e-11


def _weights(K, M, N, seed=1, scale=1.5):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(K, N)) * scale / np.sqrt(N), rng.normal(size=(M, N)) / np.sqrt(N)


def _run(model, J, B, eta, seed, n_steps=1, mode=None, eps=None, g=None):
    """``n_steps`` steps from the weights ``J``, ``B`` (and gains ``g``, default ones) with the training
    stream of ``seed``: SGD (``mode=None``) or the preconditioned kernel; the new ``J`` (and the new gains,
    when ``g`` is given)."""
    Jt, Bt = np.array(J.T, order="C"), np.array(B.T, order="C")  # copies (J.T of one row is contiguous)
    K = Jt.shape[1]
    b = model.batch
    par, vt = model.system.params(eta), model.system.teacher_weights
    gw = np.ones(K) if g is None else np.array(g, dtype=float)
    v, s = np.ones(K), rng_state(seed)
    wa = sgd.weight_args(model, par, Bt.T, vt=vt, b=b)
    if mode is None:
        done = sgd.sgd_steps(Jt, gw, v, n_steps, s, wa)
    else:
        done = nat.natural_steps(Jt, gw, v, n_steps, s, wa, mode, eps)
    assert done == n_steps
    return Jt.T.copy() if g is None else (Jt.T.copy(), gw)


def _explicit(model, J, g, step, eps, unitwise):
    """``(F + eps I)^-1 step`` with the explicit ``NK (+ K)`` square Fisher of :func:`fisher_closed_form`
    (parameters ``[J row by row, g (learned gain)]``); for unitwise its blocks of one unit each
    (``J_i`` with ``g_i``)."""
    K, N = J.shape
    F = fisher_closed_form(model, J, g)
    if unitwise:
        keep = np.zeros(F.shape, dtype=bool)
        for i in range(K):
            idx = list(range(i * N, (i + 1) * N)) + ([K * N + i] if model.learns_gain else [])
            keep[np.ix_(idx, idx)] = True
        F = np.where(keep, F, 0.0)
    return np.linalg.solve(F + eps * np.eye(F.shape[0]), step)


CASES = [  # K, M, N, batch, tau, noise
    (2, 2, 8, 1, 1.0, 0.0),
    (2, 3, 6, 2, 0.5, 0.1),
    (3, 2, 10, 3, 1.7, 0.0),
    (5, 2, 9, 1, 1.0, 0.0),  # K > 3: every pattern of the sparse K^2 x K^2 matrix, the blocks of K > 3 units
]
RULES = [(None, "learned"), ("paper", "learned"), ("paper", "fixed"), ("exact", "learned"), ("exact", "fixed")]


@pytest.mark.parametrize("case", CASES, ids=[f"K{c[0]}M{c[1]}N{c[2]}b{c[3]}" for c in CASES])
@pytest.mark.parametrize("rule", RULES, ids=["plain", "paper", "paper-fixed", "exact", "exact-fixed"])
@pytest.mark.parametrize("kind", ["natural", "unitwise"])
@pytest.mark.parametrize("eps", [1e-3, 0.5])
def test_one_step_is_the_explicit_inverse_fisher_times_the_sgd_step(case, rule, kind, eps):
    """Plain: ``theta = J``; BN: ``theta = (J, g)`` with a learned gain, ``J`` with a fixed one; gains away from 1."""
    K, M, N, b, tau, noise = case
    model = sp.Committee(K, M, bn=rule[0], gain=rule[1], batch=b, tau=tau, noise=noise)
    J, B = _weights(K, M, N)
    g0 = np.linspace(0.8, 1.3, K)
    eta = 0.7
    J1, g1 = _run(model, J, B, eta, seed=5, g=g0)
    step_sgd = np.concatenate([(J1 - J).ravel()] + ([g1 - g0] if model.learns_gain else []))
    want = _explicit(model, J, g0 if model.has_bn else None, step_sgd, eps, kind == "unitwise")
    J2, g2 = _run(model, J, B, eta, seed=5, mode=nat.MODES[kind], eps=eps, g=g0)
    got = np.concatenate([(J2 - J).ravel()] + ([g2 - g0] if model.learns_gain else []))
    assert np.max(np.abs(got - want)) <= STEP_RTOL * np.max(np.abs(want))
    if not model.learns_gain:
        assert np.array_equal(g2, g0)
    # the preconditioner matters here: the step is not SGD's rescaled
    assert np.max(np.abs(want - step_sgd / eps)) > 1e-3 * np.max(np.abs(want))


@pytest.mark.parametrize("bn", [None, "paper", "exact"])
@pytest.mark.parametrize("batch", [1, 3])
def test_damping_alone_is_sgd(batch, bn):
    """``F -> 0``: ``(eps I)^-1`` times SGD's step. At ``eps = 1`` the kernel is SGD bit for bit for ``b = 1``
    (the same random stream, the same arithmetic on the weights) and to rounding for ``b > 1`` (SGD sums a
    minibatch by BLAS products, this kernel in one pass: another order of the same sums, 1e-12 relative
    after 300 steps as below); at ``eps = 1/4`` (a power of two: exact) and ``eps = 0.3`` it is SGD at
    ``eta/eps`` to rounding (``a/eps`` against ``a`` computed at ``eta/eps``)."""
    model = sp.Committee(2, 2, batch=batch, bn=bn)
    J, B = _weights(2, 2, 60, scale=1.0)
    g0 = np.array([0.9, 1.2])
    sgd_J, sgd_g = _run(model, J, B, 0.5, seed=7, n_steps=300, g=g0)
    J1, g1 = _run(model, J, B, 0.5, seed=7, n_steps=300, mode=nat.DAMPING_ONLY, eps=1.0, g=g0)
    if batch == 1:
        assert np.array_equal(J1, sgd_J) and np.array_equal(g1, sgd_g)
    else:
        assert np.max(np.abs(J1 - sgd_J)) <= 1e-12 * np.max(np.abs(sgd_J))
        assert np.max(np.abs(g1 - sgd_g)) <= 1e-12 * np.max(np.abs(sgd_g))
        assert not np.array_equal(J1, sgd_J)  # the two orders of summation differ: the check is live
    for eps in (0.25, 0.3):
        want_J, want_g = _run(model, J, B, 0.5 / eps, seed=7, n_steps=300, g=g0)
        got_J, got_g = _run(model, J, B, 0.5, seed=7, n_steps=300, mode=nat.DAMPING_ONLY, eps=eps, g=g0)
        assert np.max(np.abs(got_J - want_J)) <= 1e-12 * np.max(np.abs(want_J))
        assert np.max(np.abs(got_g - want_g)) <= 1e-12 * np.max(np.abs(want_g))


def test_unitwise_is_natural_where_the_fisher_is_one_block():
    """K = 1: F is a single block, so unitwise and natural are the same computation (bit for bit, over
    many steps); at K = 2 the off-diagonal blocks ``F_12 = tau E11_12 I + ...`` (``E11 > 0``: phi' > 0) make
    them differ."""
    model = sp.Committee(1, 2, noise=0.05)
    J, B = _weights(1, 2, 40)
    a = _run(model, J, B, 0.5, seed=3, n_steps=200, mode=nat.NATURAL, eps=1e-2)
    b = _run(model, J, B, 0.5, seed=3, n_steps=200, mode=nat.UNITWISE, eps=1e-2)
    assert np.array_equal(a, b) and not np.array_equal(a, J)
    model = sp.Committee(2, 2)
    J, B = _weights(2, 2, 40)
    a = _run(model, J, B, 0.5, seed=3, mode=nat.NATURAL, eps=1e-2) - J
    b = _run(model, J, B, 0.5, seed=3, mode=nat.UNITWISE, eps=1e-2) - J
    assert np.max(np.abs(a - b)) > 0.1 * np.max(np.abs(a))


def test_simulate_runs_the_preconditioned_kernel():
    """``simulate(method="weights")`` with a preconditioner runs :func:`natural_steps` on each seed's weights:
    its recorded overlaps (and gains) are those of the kernel run directly from the same weights and stream."""
    K, M, N, eta, steps = 2, 2, 50, 0.5, 100
    J, B = _weights(K, M, N, scale=1.0)
    g0 = np.array([0.9, 1.1])
    for kind, bn in (("natural", None), ("unitwise", None), ("natural", "exact"), ("unitwise", "paper")):
        model = sp.Committee(K, M, bn=bn, preconditioner=kind, damping=0.05)
        init = {"J": J, "B": B, "g": g0} if bn else {"J": J, "B": B}
        res = sp.simulate(model, N, eta, steps / N, seeds=[4], alphas=[0.0, steps / N], start=init,
                          exact_teacher=False, workers=1)
        assert str(res.status) == "completed"
        Jn, gn = _run(model, J, B, eta, seed=4, n_steps=steps, mode=nat.MODES[kind], eps=0.05, g=g0)
        assert np.allclose(res.Q[0, -1], Jn @ Jn.T, rtol=0, atol=1e-13)
        assert np.allclose(res.R[0, -1], Jn @ B.T, rtol=0, atol=1e-13)
        if bn:
            assert np.array_equal(res.g[0, -1], gn) and not np.array_equal(gn, g0)
    plain = sp.simulate(sp.Committee(K, M), N, eta, steps / N, seeds=[4], alphas=[0.0, steps / N],
                        start={"J": J, "B": B}, exact_teacher=False, workers=1)
    natural = sp.simulate(sp.Committee(K, M, preconditioner="natural", damping=0.05), N, eta, steps / N, seeds=[4],
                          alphas=[0.0, steps / N], start={"J": J, "B": B}, exact_teacher=False, workers=1)
    assert not np.allclose(plain.Q[0, -1], natural.Q[0, -1], rtol=1e-3)


# -- bad input: one line each, naming the option ---------------------------------------------------------------

@pytest.mark.parametrize("value", [0, 0.0, -1e-3, float("nan"), float("inf"), -float("inf"), 2e6, True, "0.1"])
def test_bad_damping(value):
    with pytest.raises(ValueError, match=r"^damping must be a real number in \(0, 1e\+06\]") as info:
        sp.Committee(2, 2, preconditioner="natural", damping=value)
    assert "\n" not in str(info.value)


def test_damping_needs_a_preconditioner_and_the_fields_round_trip():
    with pytest.raises(ValueError, match=r"^damping: only a preconditioned update has a damping"):
        sp.Committee(2, 2, damping=0.1)
    m = sp.Committee(2, 2, preconditioner="unitwise", damping=0.1)
    assert m.damping == 0.1 and sp.Committee.from_dict(m.to_dict()) == m
    assert sp.Committee(2, 2, preconditioner="natural").damping == DEFAULT_DAMPING == 1e-3
    assert sp.Committee(2, 2, preconditioner="none").preconditioner is None
    assert m != m.with_(preconditioner="natural") and m != m.with_(damping=0.2)


@pytest.mark.parametrize("value", ["bogus", "Natural", 1, ""])
def test_unknown_preconditioner(value):
    with pytest.raises(ValueError, match=r"^preconditioner must be one of 'none', 'natural', 'unitwise', 'adaptive'"):
        sp.Committee(2, 2, preconditioner=value)


NATURAL = sp.Committee(2, 2, preconditioner="natural")
I2 = np.eye(2)
REFUSED = {
    "diffusion_matrix": lambda: sp.diffusion_matrix(NATURAL, (0.5 * I2, 0.1 * I2), 0.5),
    "reduced_rhs": lambda: sp.reduced_rhs(NATURAL, 0.5, 0.1, 0.3, 0.1),
}


@pytest.mark.parametrize("what", list(REFUSED))
def test_engines_without_a_preconditioner_refuse_it(what):
    name = what.replace('(', '[(]').replace(')', '[)]')
    with pytest.raises(ValueError, match=rf"^preconditioner: {name} runs SGD only .*got preconditioner='natural'; "
                       r".*simulate\(method='weights' or 'overlaps'\)") as info:
        REFUSED[what]()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("model, method, pattern", [
    (NATURAL.with_(preconditioner="adaptive"), "sde",
     r"^preconditioner: method='sde' does not run preconditioner='adaptive' yet; it runs in "
     r"simulate\(method='weights'\)"),
    (NATURAL.with_(preconditioner="adaptive"), "overlaps",
     r"^preconditioner: method='overlaps' does not run preconditioner='adaptive' yet; it runs in "
     r"simulate\(method='weights'\)"),
    (NATURAL.with_(bn="exact", batch=2), "weights", r"^bn_stats: method='weights' with preconditioner='natural' "
                                                    r"runs the soft committee machine with population statistics only"),
    (NATURAL.with_(weight_decay=0.1), "weights", r"^model: method='weights' with preconditioner='natural' runs the "
                                                 r"soft committee machine with population statistics only"),
], ids=["sde", "adaptive", "batch-stats", "two-layer"])
def test_simulators_refuse_what_they_do_not_run(model, method, pattern):
    with pytest.raises(ValueError, match=pattern) as info:
        sp.simulate(model, 100, 0.5, 1.0, method=method, bn_stats="batch" if model.has_bn else "population")
    assert "\n" not in str(info.value)


def test_escape_time_refuses_a_rule_without_a_diffusion():
    with pytest.raises(ValueError, match=r"^preconditioner: escape_time does not run preconditioner='adaptive' yet; "
                                         r"it runs in simulate\(method='weights'\)") as info:
        sp.escape_time(NATURAL.with_(preconditioner="adaptive"), 1000, 0.5)
    assert "\n" not in str(info.value)


def test_sweep_axes():
    """``preconditioner`` and ``damping`` are sweep axes; a damping on an SGD point is refused naming it."""
    _, grid, _ = check_sweep("simulate", {"preconditioner": ["none", "natural", "unitwise"]})
    assert grid == {"preconditioner": ["none", "natural", "unitwise"]}
    check_sweep("simulate", {"damping": [1e-2, 1e-4]}, {"preconditioner": "natural"})
    with pytest.raises(ValueError, match=r"^damping: only a preconditioned update has a damping"):
        check_sweep("simulate", {"preconditioner": ["none", "natural"], "damping": [1e-2]})


# -- the order-parameter ODE (docs/model.md §14.5) ----------------------------------------------------------------

@pytest.mark.parametrize("rule", RULES, ids=["plain", "paper", "paper-fixed", "exact", "exact-fixed"])
def test_ode_without_the_fisher_is_sgds_ode(rule):
    """``F -> 0`` in the ODE: ``B = eps I``, ``Gamma = 0``, the rates are SGD's at ``eta/eps`` (to rounding;
    exactly the same averages), plain and both BN rules."""
    model = sp.Committee(2, 3, bn=rule[0], gain=rule[1], noise=0.1, batch=2, tau=1.3)
    Q = np.array([[0.6, 0.1], [0.1, 0.4]])
    R = np.array([[0.3, 0.05, 0.0], [0.1, 0.2, 0.1]])
    y = model.system.state(Q, R, np.array([0.9, 1.2]) if model.has_bn else None)
    for eps in (1.0, 0.25, 0.3):
        out = np.empty_like(y)
        assert nat_ode.natural_rhs_kernel(y, out, model.system.args(0.7), nat.DAMPING_ONLY, eps,
                                          nat_ode._workspace(2, 3))
        ref = model.system.rhs(y, 0.7 / eps)
        assert np.max(np.abs(out - ref)) <= 1e-13 * np.max(np.abs(ref))


def _one_step_drift(model, N, eta, n, seed=3):
    """``N`` times the mean one-step change of ``Q``, ``R`` (and ``g``) over ``n`` independent examples from one
    ``J`` (gains 0.9, 1.2 under BN), its standard error, and the ODE's rates at the same state."""
    K, M = model.K, model.M
    J, B = sp.random_weights(model, N, seed)
    J = J * np.linspace(1.0, 0.7, K)[:, None]
    Q, R = J @ J.T, J @ B.T
    g0 = np.linspace(0.9, 1.2, K)
    par, vt = model.system.params(eta), model.system.teacher_weights
    v, wa = np.ones(K), sgd.weight_args(model, par, B, vt=vt, b=1)
    dQ, dR, dg = np.empty((n, K, K)), np.empty((n, K, M)), np.empty((n, K))
    mode = nat.MODES[model.preconditioner]
    for s in range(n):
        Jt, g = np.array(J.T, order="C"), g0.copy()
        assert nat.natural_steps(Jt, g, v, 1, rng_state(s), wa, mode, model.damping) == 1
        dQ[s], dR[s], dg[s] = N * (Jt.T @ Jt - Q), N * (Jt.T @ B.T - R), N * (g - g0)
    want = nat_ode.natural_rhs(model, Q, R, eta, g0 if model.has_bn else None)
    pairs = [(dQ, want[0]), (dR, want[1])] + ([(dg, want[2])] if model.learns_gain else [])
    return [(x.mean(0), x.std(0) / np.sqrt(n), w) for x, w in pairs]


@pytest.mark.parametrize("kind", ["natural", "unitwise"])
@pytest.mark.parametrize("bn", [None, "paper", "exact"])
def test_ode_rates_are_the_weights_mean_step(kind, bn):
    """The ODE's rates at ``(Q, R, g)`` are ``N`` times the weights' mean step from weights with that state,
    within 4.5 standard errors (3000 examples at N = 2000; the finite-N corrections, O(1/N), are far below the
    s.e.), and the s.e. resolves the rates (below a fifth of the largest); plain and both BN rules."""
    model = sp.Committee(2, 2, bn=bn, preconditioner=kind, damping=0.1)
    for mean, se, want in _one_step_drift(model, 2000, 0.5, 3000):
        assert np.all(np.abs(mean - want) <= 4.5 * se), (mean, want, se)
        assert np.max(se) < 0.2 * np.max(np.abs(want))


@pytest.mark.slow
def test_ode_rates_are_the_weights_mean_step_at_N_1e4():
    """As the quick test, at N = 10^4 with 20000 examples (measured within 1.4 s.e.; the s.e. about 3% of the
    rates)."""
    model = sp.Committee(2, 2, preconditioner="natural", damping=0.1)
    for mean, se, want in _one_step_drift(model, 10_000, 0.5, 20_000):
        assert np.all(np.abs(mean - want) <= 4 * se), (mean, want, se)
        assert np.max(se) < 0.05 * np.max(np.abs(want))


@pytest.mark.slow
@pytest.mark.parametrize("bn, N, eg_end", [(None, 4000, 0.1), ("exact", 2000, 0.1)], ids=["plain", "exact"])
def test_ode_against_the_learning_curves_of_the_exact_chain(bn, N, eg_end):
    """Learning curves: 32 seeds of preconditioned SGD from the paper's random start, against the ODE from each
    seed's start, at alpha = 1, 2, 5 (the fast descent towards the plateau, before the escape): the mean
    difference of eps_g, Q, R (and g) within 4 standard errors (measured: |t| <= 2.5 plain at N = 4000, <= 1.7
    exact BN at N = 2000; the O(1/N) bias is below the s.e.).

    The runs are the exact overlap chain (``method="overlaps"``, docs/model.md §11), the same process as SGD on
    the weights in distribution (pinned for natural and unitwise, plain and both BN rules, by
    ``test_chain_equals_the_weights_in_distribution``), so the check has the same seeds, N and statistical
    power as on the weights, at 1/40 of the cost (1.4 s against 54 s plain, 0.7 s against 13 s exact BN; on
    the weights, seeds 0..31 gave |t| <= 1.6 plain, <= 2.2 exact BN)."""
    eta, seeds = 0.5, 32
    model = sp.Committee(2, 2, bn=bn, preconditioner="natural", damping=0.1)
    alphas = np.array([0.0, 1.0, 2.0, 5.0])
    sim = sp.simulate(model, N, eta, alphas[-1], seeds=seeds, alphas=alphas, method="overlaps")
    assert str(sim.status) == "completed" and sim.info["method"] == "overlaps"
    names = ("eg", "Q", "R") + (("g",) if bn else ())
    diffs = {name: [] for name in names}
    for j in range(seeds):
        ode = nat_ode.integrate_natural(model, sim.Q[j, 0], sim.R[j, 0], eta, alphas,
                                        g0=sim.g[j, 0] if bn else None)
        for name in names:
            diffs[name].append(getattr(sim, name)[j, 1:] - ode[name][1:])
    for name, d in diffs.items():
        d = np.array(d)
        mean, se = d.mean(0), d.std(0, ddof=1) / np.sqrt(seeds)
        assert np.all(np.abs(mean) <= 4 * se), (name, mean, se)
    # the comparison resolves something: eps_g falls from about 0.65 on this stretch
    assert np.all(sim.eg[:, -1] < eg_end) and np.all(sim.eg[:, 0] > 0.5)


def test_ode_unitwise_is_natural_at_K_1_and_refusals():
    m = sp.Committee(1, 2, preconditioner="natural", damping=0.05)
    Q, R = np.array([[0.7]]), np.array([[0.3, 0.2]])
    a, b = nat_ode.natural_rhs(m, Q, R, 0.5), nat_ode.natural_rhs(m.with_(preconditioner="unitwise"), Q, R, 0.5)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] is None
    with pytest.raises(ValueError, match=r"^model: the preconditioned ODE covers the committee machine"):
        nat_ode.natural_rhs(sp.Committee(2, 2, weight_decay=0.1, preconditioner="natural"), np.eye(2), np.eye(2), 0.5)
    with pytest.raises(ValueError, match=r"^preconditioner: the preconditioned ODE runs preconditioner='natural' or "
                                         r"'unitwise', got preconditioner='adaptive'"):
        nat_ode.natural_rhs(sp.Committee(2, 2, preconditioner="adaptive"), np.eye(2), np.eye(2), 0.5)
    with pytest.raises(ValueError, match=r"^preconditioner: the preconditioned ODE runs"):
        nat_ode.natural_rhs(sp.Committee(2, 2), np.eye(2), np.eye(2), 0.5)


# -- escape from the symmetric plateau (docs/model.md §14.6) ---------------------------------------------------------

@pytest.mark.parametrize("K", [2, 3])
@pytest.mark.parametrize("kind", ["natural", "unitwise"])
def test_escape_rate_from_the_ode_is_the_weight_space_rate(K, kind):
    """At the plateau the ODE's Jacobian (``symmetric_fixed_point``'s, five-point differences, truncation and
    rounding about 1e-13) and the weight-space ``H v = mu (F + eps I) v`` of :func:`symphase.curvature` give the
    same escape rate: the issue's 1e-8 relative (measured: at most 1.4e-11 at eps >= 1e-2, and 1.4e-9 at
    eps = 1e-4, where the rates grow like 1/eps and the differences' rounding, about 1e-16 |f|/h, with them; a
    wrong Jacobian, e.g. SGD's, misses by a factor 1/eps)."""
    fp = sp.symmetric_fixed_point(sp.Committee(K, K))
    for eps in (1.0, 1e-2, 1e-4):
        model = sp.Committee(K, K, preconditioner=kind, damping=eps)
        a, b = sp.symmetric_fixed_point(model).escape_rate, nat_ode.weight_space_rates(model, fp.Q, fp.R)[0]
        assert abs(a - b) <= 1e-8 * b


@pytest.mark.parametrize("bn", [None, "exact"])
def test_natural_gradient_escapes_at_sgds_rate_over_the_damping(bn):
    """Natural gradient at the coinciding plateau: the escape direction lies in F's null space (the students
    coincide), so ``(F + eps I)^-1`` multiplies it by ``1/eps`` exactly: the rate is SGD's over eps, for every
    eps (K = 2, 3; plain and exact BN, whose rate keeps BN's factor). The plateau's length, ``~ ln N/(2 lambda)``,
    goes to zero with the damping."""
    for K in (2, 3):
        sgd_rate = sp.symmetric_fixed_point(sp.Committee(K, K, bn=bn)).escape_rate
        for eps in (1.0, 1e-2, 1e-4):
            model = sp.Committee(K, K, bn=bn, preconditioner="natural", damping=eps)
            rate = sp.symmetric_fixed_point(model).escape_rate
            assert abs(rate * eps - sgd_rate) <= 1e-6 * sgd_rate


def test_unitwise_escape_is_bounded():
    """Unit-wise (block-diagonal) preconditioning cannot see F's null direction, which mixes units (the
    difference of the coinciding students): its rate saturates as eps -> 0, at about 2x SGD's (plain K = 2:
    0.13331 against 0.06575; K = 3: 0.08570 against 0.04612), and under exact BN at about the same value
    (0.13309 at K = 2), which removes BN's delay (its SGD rate 0.00731) but no more."""
    rates = {}
    for bn, K in ((None, 2), (None, 3), ("exact", 2)):
        rates[bn, K] = [sp.symmetric_fixed_point(sp.Committee(K, K, bn=bn, preconditioner="unitwise",
                                                              damping=e)).escape_rate for e in (1e-3, 1e-4)]
        assert abs(rates[bn, K][0] - rates[bn, K][1]) <= 0.02 * rates[bn, K][1]
    assert rates[None, 2][1] == pytest.approx(0.133306, rel=1e-5)
    assert rates[None, 3][1] == pytest.approx(0.0856984, rel=1e-5)
    assert rates["exact", 2][1] == pytest.approx(0.13309, rel=1e-4)
    assert rates[None, 2][1] / sp.symmetric_fixed_point(sp.Committee(2, 2)).escape_rate < 2.1
    with pytest.raises(ValueError, match=r"^bn: the paper's BN rule is not a gradient"):
        _ = sp.symmetric_fixed_point(sp.Committee(2, 2, bn="paper", preconditioner="natural")).escape_rate


# -- the exact chain in overlap space (docs/model.md §11, §14) ----------------------------------------------------

def _chain_and_weights(model, N, steps, n, eta=0.5):
    """``n`` runs of ``steps`` preconditioned steps from one start on the weights and on the chain (independent
    streams): the final ``(Q, R, g)`` of each, flattened."""
    K = model.K
    J, B = sp.random_weights(model, N, 1)
    g0 = np.linspace(0.9, 1.1, K)
    Q0, R0, T = J @ J.T, J @ B.T, np.ascontiguousarray(B @ B.T)
    par, vt = model.system.params(eta), model.system.teacher_weights
    mode, eps = nat.MODES[model.preconditioner], model.damping
    wa, ca = sgd.weight_args(model, par, B, vt=vt), ov.chain_args(model, par, N, T=T, vt=vt)
    weights, chain = [], []
    for seed in range(n):
        Jt, g = np.array(J.T, order="C"), g0.copy()
        assert nat.natural_steps(Jt, g, np.ones(K), steps, rng_state(seed), wa, mode, eps) == steps
        weights.append(np.concatenate([(Jt.T @ Jt).ravel(), (Jt.T @ B.T).ravel(), g]))
        Q, R, g = Q0.copy(), R0.copy(), g0.copy()
        assert nat.natural_overlap_steps(Q, R, g, np.ones(K), steps, rng_state(10**6 + seed), ca, mode, eps) == steps
        chain.append(np.concatenate([Q.ravel(), R.ravel(), g]))
    return np.array(weights), np.array(chain)


@pytest.mark.parametrize("bn, kind, damping", [(None, "natural", 0.2), (None, "unitwise", 0.2),
                                               ("exact", "natural", 0.2), ("paper", "unitwise", 2.0)],
                         ids=["plain-natural", "plain-unitwise", "exact-natural", "paper-unitwise"])
def test_chain_equals_the_weights_in_distribution(bn, kind, damping):
    """40 steps (batch 2, output noise) at N = 30 from one start, 1500 runs each: the chain's final overlaps (and
    gains) have the weights' means within 4.5 s.e. and standard deviations within 12% (the s.e. of a ratio of two
    standard deviations of 1500 samples is about 2.6%; measured within 5% with 3000). (The paper's rule is
    taken at eps = 2: at small damping its norm dynamics are heavy-tailed, docs/model.md §14.5, and sample
    moments are no test.)"""
    model = sp.Committee(2, 2, bn=bn, batch=2, noise=0.05, preconditioner=kind, damping=damping)
    W, C = _chain_and_weights(model, 30, 40, 1500)
    n = W.shape[0]
    se = np.sqrt(W.var(0) / n + C.var(0) / n)
    moving = se > 0  # a fixed gain does not move
    assert np.all(np.abs(W.mean(0) - C.mean(0))[moving] <= 4.5 * se[moving])
    ratio = W.std(0)[moving] / C.std(0)[moving]
    assert np.all(np.abs(ratio - 1.0) <= 0.12), ratio


def test_simulate_runs_the_chain():
    """``simulate(method="overlaps")`` runs :func:`natural_overlap_steps` from each seed's overlaps: bit for bit
    the kernel run directly with the same stream."""
    K, M, N, eta, steps = 2, 2, 50, 0.5, 100
    J, B = _weights(K, M, N, scale=1.0)
    model = sp.Committee(K, M, bn="exact", preconditioner="natural", damping=0.05)
    g0 = np.array([0.9, 1.1])
    res = sp.simulate(model, N, eta, steps / N, seeds=[4], alphas=[0.0, steps / N], start={"J": J, "B": B, "g": g0},
                      exact_teacher=False, workers=1, method="overlaps")
    assert str(res.status) == "completed"
    Q, R, g, T = J @ J.T, J @ B.T, g0.copy(), np.ascontiguousarray(B @ B.T)
    ca = ov.chain_args(model, model.system.params(eta), N, T=T, blowup=res.info.get("blowup", 1e6))
    assert nat.natural_overlap_steps(Q, R, g, np.ones(K), steps, rng_state(4), ca, nat.NATURAL, 0.05) == steps
    assert np.allclose(res.Q[0, -1], Q, rtol=0, atol=1e-12) and np.allclose(res.R[0, -1], R, rtol=0, atol=1e-12)
    assert np.allclose(res.g[0, -1], g, rtol=0, atol=1e-12)


# -- the per-step factors and solves against dense linear algebra ---------------------------------------------------

def _gram(K, seed, n=None):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(K, n or 2 * K))
    return X @ X.T / X.shape[1] + 0.3 * np.ones((K, K)) / K


def _bulk(Q, tau, eps, mode):
    """``B = A + eps I``, ``A_ik = tau E11`` at ``C = tau Q`` (plain), from the closed form of E11 (docs/model.md
    §10); unitwise its diagonal."""
    C = tau * Q
    d = np.diag(C)
    A = tau * 2.0 / (np.pi * np.sqrt((1.0 + d[:, None]) * (1.0 + d[None, :]) - C**2))
    return (np.diag(np.diag(A)) if mode == nat.UNITWISE else A) + eps * np.eye(len(d))


@pytest.mark.parametrize("K", [1, 2, 3, 5])
def test_span_matrix_is_the_generated_operator(K):
    """``Lmat`` (:func:`symphase._natural.fisher_factors`, filled entry by entry from the nonzeros of
    ``_lmat_entry``, written by hand) is the matrix of ``Gamma -> B Gamma + c(Gamma Q)`` with ``c`` the generated
    :func:`symphase._generated.natural.span_coefficients`: column ``p K + q`` is that operator at ``Gamma = e_pq``.
    Tolerance: 1e-14 of the largest entry (the same products, the zero terms dropped: measured bit for bit)."""
    tau, eps = 1.3, 1e-3
    Q = _gram(K, K)
    fac = tuple(np.zeros(sh) for sh in ((K, K), (K * K, K * K), (K, K), (K, K), (K, K), (K, K), (K, K)))
    assert nat.fisher_factors(Q, np.ones(K), tau, nat.NATURAL, eps, True, fac)
    Lmat, E31, E22, E13 = fac[1], fac[2], fac[3], fac[4]
    B = _bulk(Q, tau, eps, nat.NATURAL)
    want = np.empty((K * K, K * K))
    for p in range(K):
        for q in range(K):
            Gamma = np.zeros((K, K))
            Gamma[p, q] = 1.0
            C = np.zeros((K, K))
            nat.span_coefficients(Gamma @ Q, E31, E22, E13, C)
            want[:, p * K + q] = (B @ Gamma + C).ravel()
    assert np.max(np.abs(Lmat - want)) <= 1e-14 * np.max(np.abs(want))


@pytest.mark.parametrize("K", [1, 2, 3, 5])
def test_bulk_inverse_and_unitwise_solve_are_the_dense_ones(K):
    """``B^-1`` (one ``L D L^T`` factorisation; at a state off the Gram matrices, where ``B`` is indefinite, one
    pivoted elimination per column) is ``numpy.linalg.inv(B)``; unitwise, the closed-form solve of the ``K``
    decoupled systems (:func:`symphase._natural._unitwise_gamma`) and BN's per-unit block solve are the dense
    solves of the whole ``K^2 (+ K)`` square matrix (:func:`symphase._natural.fisher_factors`,
    :func:`symphase._natural.realized_fisher`). Tolerance: 1e-12 relative, the conditioning (< 1e3 at
    eps = 1e-3) times a few ulps (measured below 1e-14)."""
    tau, eps = 1.3, 1e-3
    rng = np.random.default_rng(K)
    indefinite = False
    for Q in (_gram(K, K), _gram(K, K) + (0.6 * (np.ones((K, K)) - np.eye(K)) if K > 1 else 0.0)):
        for mode in (nat.NATURAL, nat.UNITWISE):
            fac = tuple(np.zeros(sh) for sh in ((K, K), (K * K, K * K), (K, K), (K, K), (K, K), (K, K), (K, K)))
            assert nat.fisher_factors(Q, np.ones(K), tau, mode, eps, True, fac)
            Binv, Lmat = fac[0], fac[1].copy()
            B = _bulk(Q, tau, eps, mode)
            indefinite |= np.linalg.eigvalsh(B).min() < 0.0
            assert np.max(np.abs(Binv - np.linalg.inv(B))) <= 1e-12 * np.max(np.abs(Binv))
            work = nat.step_work(K, False)
            assert nat.step_factors(Q, np.ones(K), np.ones(K), tau, mode, eps, False, False, work)
            assert np.max(np.abs(work[0] - Binv)) <= 1e-13 * np.max(np.abs(Binv))
            G, psum = rng.normal(size=(K, K)), rng.normal(size=K)
            Pi, dgain = np.zeros((K, K)), np.zeros(K)
            assert nat.span_step(Q, G.copy(), psum, np.zeros(K), mode, False, False, work, Pi, dgain)
            # the same from the dense K^2 x K^2 solve: Gamma solves B Gamma + c(Gamma Q) = -c(B^-1 G')
            Gp = G - psum[:, None] * Q
            C = np.zeros((K, K))
            nat.span_coefficients(Binv @ Gp, fac[2], fac[3], fac[4], C)
            Gamma = np.linalg.solve(Lmat, -C.ravel()).reshape(K, K)
            want = -Binv * psum[None, :] + Gamma
            assert np.max(np.abs(Pi - want)) <= 1e-12 * np.max(np.abs(want)), mode
    assert indefinite == (K == 5)  # the second state of K = 5 takes the pivoted path
    # BN, unitwise: the per-unit blocks against the dense solve of F_r + eps I
    for learn in (False, True):
        Q, h, g = _gram(K, 7), np.linspace(0.7, 1.2, K), np.linspace(0.9, 1.1, K)
        work = nat.step_work(K, learn)
        assert nat.step_factors(Q, h, g, tau, nat.UNITWISE, eps, True, learn, work)
        Lc, Binv = work[8].copy(), work[0].copy()
        Fr = np.zeros((K * K + K * learn,) * 2)
        nat.realized_fisher(Lc, h, g, tau, True, learn, True, Fr)
        Fr += eps * np.eye(len(Fr))
        G, dgsum = rng.normal(size=(K, K)), rng.normal(size=K)
        Pi, dgain = np.zeros((K, K)), np.zeros(K)
        assert nat.span_step(Q, G.copy(), np.zeros(K), dgsum, nat.UNITWISE, True, learn, work, Pi, dgain)
        c = np.linalg.solve(Lc, G.T).T  # c_m = L^-1 G_m
        d = np.linalg.solve(Fr, np.concatenate([c.ravel()] + ([dgsum] if learn else [])))
        want = np.linalg.solve(Lc.T, (d[:K * K].reshape(K, K) - Binv @ c).T).T
        assert np.max(np.abs(Pi - want)) <= 1e-12 * np.max(np.abs(want))
        if learn:
            assert np.max(np.abs(dgain - d[K * K:])) <= 1e-12 * np.max(np.abs(d[K * K:]))


def test_a_failed_factorisation_stops_the_kernels_with_their_step_count():
    """Where ``B`` or the span solve is singular numerically (here ``Q`` not finite) the factors report it, and
    the chain stops with the steps done, never NaN overlaps."""
    K = 3
    Q = _gram(K, 1)
    Q[1, 1] = np.nan
    for mode in (nat.NATURAL, nat.UNITWISE):
        for bn in (False, True):
            assert not nat.step_factors(Q, np.ones(K), np.ones(K), 1.0, mode, 1e-3, bn, False, nat.step_work(K, False))
    model = sp.Committee(K, K)
    start = sp.random_initial(model, 100, seed=0)
    ca = ov.chain_args(model, model.system.params(0.5), 100)
    Qs, R = start.Q.copy(), start.R.copy()
    Qs[0, 0] = np.inf
    assert nat.natural_overlap_steps(Qs, R, np.ones(K), np.ones(K), 10, rng_state(0), ca, nat.NATURAL, 1e-3) in (-1, 0)
