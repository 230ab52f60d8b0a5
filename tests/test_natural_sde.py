"""The diffusion approximation of the preconditioned update (issue 20, "sde"; docs/model.md §14.7).

One step of :func:`symphase._natural_sde.natural_sde_steps` from ``y`` is SGD's weak Euler step
``y + f h + (h/(N b m))^(1/2) sum_{j<m} (psi(z_j) - f)`` with ``f`` the preconditioned ODE's right-hand side and
``psi`` the preconditioned per-example rate (SGD's coefficients mapped through ``(F + eps I)^-1``). Pinned here:

* ``F -> 0`` (``DAMPING_ONLY``) at damping ``eps`` is SGD's scheme (:func:`symphase._fluctuations.sde_example_steps`)
  at ``eta/eps``, path by path from the same seed, to rounding (not bit for bit: the drift is the preconditioned
  ODE's kernel, whose sums run in another order than the generated SGD right-hand side, and the examples'
  coefficients are summed before the span map; the draws are the same);
* the per-example rate at ``F -> 0``, ``eps = 1`` is SGD's at every cubature point; its mean is the preconditioned
  ODE's right-hand side (``O(eta)`` and ``O(eta^2)`` parts) to the cubature's accuracy;
* one step's increment has mean ``f h`` and covariance ``D h/N`` (``D = Cov[psi]/b`` by cubature);
* against the exact chain (:func:`symphase._natural.natural_overlap_steps`) at ``N = 1000``: the means and
  standard deviations of every overlap and of ``eps_g`` at two alphas, within their standard errors once the
  scheme's deterministic Euler bias is accounted for;
* the mean over many paths is the ODE (:func:`symphase._natural_ode.integrate_natural`) to ``O(1/N)`` (same
  accounting);
* the return codes (``check_state``, a singular ``Q`` under BN, a lost Gram matrix) and bad input.
"""
from __future__ import annotations

import numpy as np
import pytest

import symphase as sp
from symphase import _fluctuations as fl
from symphase import _natural as nat
from symphase import _natural_ode as nat_ode
from symphase import _natural_sde as ns
from symphase import _overlap_sgd as ov
from symphase._escape import random_start_overlaps
from symphase._rng import rng_state

#: Models of the one-step and chain tests: plain and both BN rules, natural and unitwise, minibatch and noise.
CASES = {
    "plain-natural": dict(preconditioner="natural", damping=0.1),
    "plain-unitwise": dict(preconditioner="unitwise", damping=0.1),
    "exact-natural": dict(bn="exact", preconditioner="natural", damping=0.1),
    "paper-unitwise-b2-noise": dict(bn="paper", batch=2, noise=0.1, preconditioner="unitwise", damping=0.5),
    "plain-natural-small-damping-b2-noise": dict(preconditioner="natural", damping=1e-3, batch=2, noise=0.1),
}


def _start(model, seed=3, N=1000):
    """A start from the random-weights ensemble at ``N`` (gains away from 1 under BN), flat."""
    Q0, R0 = random_start_overlaps(model, N, np.random.default_rng(seed))
    g0 = np.array([0.9, 1.1]) if model.has_bn else None
    return Q0, R0, g0, model.layout.pack(Q0, R0, g0)


def _flat_ode(model, Q0, R0, g0, eta, alphas):
    """The preconditioned ODE at ``alphas`` (flat states) from ``(Q0, R0, g0)``."""
    ode = nat_ode.integrate_natural(model, Q0, R0, eta, [0.0, *alphas], g0=g0)
    gs = ode["g"][1:] if model.has_bn else [None] * len(alphas)
    return np.array([model.layout.pack(q, r, g) for q, r, g in zip(ode["Q"][1:], ode["R"][1:], gs)])


def _sde_paths(model, y0, N, eta, h, alphas, seeds):
    """Paths of the scheme from ``y0`` (step ``h``) at ``alphas`` (multiples of ``h``): (seeds, alphas, size)."""
    ka, c, work = ns.natural_sde_setup(model, N, eta, dalpha=h)
    out = np.empty((len(seeds), len(alphas), y0.size))
    for j, seed in enumerate(seeds):
        y, s, prev = y0.copy(), rng_state(seed), 0.0
        for k, a in enumerate(alphas):
            n = round((a - prev) / h)
            prev = a
            assert ns.natural_sde_steps(y, ka, s, n, c, work) == n
            out[j, k] = y
    return out


def _euler_bias(model, y0, eta, h, alphas, Q0, R0, g0):
    """The scheme's deterministic bias at step ``h``: its path with the noise switched off (``N = 2^52``) minus
    the ODE (DOP853 at 1e-10), at ``alphas``. Euler's method: ``O(h)``."""
    det = _sde_paths(model, y0, 2**52, eta, h, alphas, [0])[0]
    return det - _flat_ode(model, Q0, R0, g0, eta, alphas)


# -- F -> 0 is SGD's scheme at eta/eps ------------------------------------------------------------------------------

@pytest.mark.parametrize("rule", [{}, {"bn": "exact"}, {"bn": "paper", "batch": 2, "noise": 0.1}],
                         ids=["plain", "exact", "paper-b2-noise"])
@pytest.mark.parametrize("eps", [1.0, 0.5])
def test_damping_only_is_sgds_scheme_at_eta_over_eps(rule, eps):
    """100 steps (h = 0.05, N = 1000, eta = 0.5) of the preconditioned scheme with ``F -> 0`` at damping ``eps``
    against SGD's scheme at ``eta/eps`` from the same state and seed: the same path to 1e-13 (measured: 4.4e-16,
    1 to 4 ulps of the state; the path moves by about 0.5). The natural preconditioner's path is far from it
    (the test can fail)."""
    model = sp.Committee(2, 2, preconditioner="natural", damping=eps, **rule)
    sgd_model = sp.Committee(2, 2, **rule)
    *_, y0 = _start(model)
    eta, N, n = 0.5, 1000, 100
    ka, c, work = ns.natural_sde_setup(model, N, eta)
    y = y0.copy()
    only = c._replace(pre=ns.Preconditioning(nat.DAMPING_ONLY, eps))
    assert ns.natural_sde_steps(y, ka, rng_state(5), n, only, work) == n
    c_sgd = fl.SDEConsts(N=N, b=model.batch, has_gain=model.has_bn, dalpha=0.05, blowup=1e6, psd_tol=1e-7,
                         examples=fl.SDE_EXAMPLES)
    y_sgd = y0.copy()
    assert fl.sde_example_steps(y_sgd, sgd_model.system.args(eta / eps), rng_state(5), n, c_sgd,
                                fl.sde_example_workspace(sgd_model)) == n
    assert np.max(np.abs(y - y_sgd)) <= 1e-13, np.max(np.abs(y - y_sgd))
    assert np.max(np.abs(y - y0)) > 0.1
    y_nat = y0.copy()
    assert ns.natural_sde_steps(y_nat, ka, rng_state(5), n, c, work) == n
    assert np.max(np.abs(y_nat - y_sgd)) > 1e-3


@pytest.mark.parametrize("rule", [{}, {"bn": "exact"}, {"bn": "paper", "batch": 2, "noise": 0.1}],
                         ids=["plain", "exact", "paper-b2-noise"])
def test_per_example_rate_without_the_fisher_is_sgds(rule):
    """:func:`natural_rate_moments` with ``F -> 0`` at ``eps = 1`` against SGD's :func:`rate_moments` on the same 4096
    cubature points: the first and second moments to 1e-13 relative (the same per-example rate at every point, to
    rounding)."""
    model = sp.Committee(2, 2, preconditioner="natural", damping=1.0, **rule)
    Q0, R0, g0, _ = _start(model)
    g = np.ones(2) if g0 is None else g0
    P, w = fl.normal_rule(model.K + model.M + 1, 2**12)
    par = model.system.params(0.5)
    work = ns.natural_moment_workspace(model)
    pre = ns.Preconditioning(nat.DAMPING_ONLY, 1.0)
    assert ns.natural_rate_moments(Q0, R0, g, model.system.T, par, model.batch, model.has_bn, pre, P, w, work) == 0
    ref = fl.moment_workspace(model)
    assert fl.rate_moments(Q0, R0, g, model.system.T, par, float(model.batch), model.has_bn, P, w, ref)
    assert np.allclose(work.mean, ref.mean, rtol=0, atol=1e-13 * np.abs(ref.mean).max())
    assert np.allclose(work.second, ref.second, rtol=0, atol=1e-13 * np.abs(ref.second).max())


# -- one step: mean f h, covariance D h / N -------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES)
def test_one_step_increment_has_the_drift_and_the_diffusion_matrix(case):
    """20000 independent one-step increments (N = 10^4, h = 0.05, eta = 0.5) from one state: the mean against
    ``f h`` entry by entry within 4.5 standard errors, the covariance against the cubature's ``D h/N`` (2^16 points)
    within 4.5 of its sampling standard errors (from the same increments) plus 2e-3 of ``max |D|`` (the cubature;
    tests/test_sde.py's rule; measured up to 2.4 s.e.). The cubature's ``E[psi]`` is the preconditioned ODE's
    right-hand side to 3e-4 of its largest entry (measured 7e-5 to 8e-5, the Sobol rule's accuracy, as SGD's)."""
    model = sp.Committee(2, 2, **CASES[case])
    Q0, R0, g0, y0 = _start(model)
    eta, N, h, n = 0.5, 10**4, 0.05, 20000
    f = model.layout.pack(*nat_ode.natural_rhs(model, Q0, R0, eta, g0))
    D, mean = ns.natural_diffusion(model, y0, eta)
    assert np.max(np.abs(mean - f)) <= 3e-4 * np.max(np.abs(f))
    ka, c, work = ns.natural_sde_setup(model, N, eta, dalpha=h)
    s = rng_state(0)
    inc = np.empty((n, y0.size))
    for i in range(n):
        y = y0.copy()
        assert ns.natural_sde_steps(y, ka, s, 1, c, work) == 1
        inc[i] = y - y0
    se = inc.std(0, ddof=1) / np.sqrt(n)
    moving = se > 0  # a gain the paper's rule leaves alone has no noise
    z = (inc.mean(0) - f * h)[moving] / se[moving]
    assert np.all(np.abs(z) < 4.5), z
    dev = (inc - inc.mean(0)) * np.sqrt(N / h)
    prod = dev[:, :, None] * dev[:, None, :]
    cov, cov_se = prod.mean(0), prod.std(0, ddof=1) / np.sqrt(n)
    tol = 4.5 * cov_se + 2e-3 * np.abs(D).max()
    assert np.all(np.abs(cov - D) < tol), np.max(np.abs(cov - D) / cov_se)
    assert np.max(np.abs(cov / 4 - D) / (cov_se / 4 + 2e-3 * np.abs(D).max())) > 10  # half the noise: far outside


# -- against the exact chain, and the ODE --------------------------------------------------------------------------

#: The scheme's step in the chain and ODE tests: its Euler bias on the mean is O(h) (0.004 in eps_g at alpha = 1
#: with h = 0.05, natural at eps = 0.1, eta = 0.5; 6 standard errors of 400 paths at N = 1000), 0.001 at this step,
#: and is measured and subtracted.
H = 0.0125


@pytest.mark.parametrize("case", list(CASES)[:3])
def test_sde_against_the_exact_chain(case):
    """400 paths of the scheme (h = 0.0125) and 400 runs of the exact chain at N = 1000, eta = 0.5, from one start
    (independent streams), at alpha = 0.5 and 2: for every overlap and for ``eps_g``, the difference of the means
    minus the scheme's deterministic Euler bias (its noise-free path against the ODE) within 4.5 standard errors
    (measured up to 2.8; 2.4 without the correction, which is up to 0.0027 here and 6 to 12 standard errors at
    h = 0.05), and the ratio of the standard deviations within ``4.5/sqrt(400)`` of 1 in logarithm (the s.e. of a
    log ratio of two sample standard deviations of 400 Gaussian samples is 0.05; measured 0.88 to 1.05). The scheme
    at N/4 (twice the noise) fails the second (ratios from 1.76; the test can fail)."""
    model = sp.Committee(2, 2, **CASES[case])
    Q0, R0, g0, y0 = _start(model)
    N, eta, n, alphas = 1000, 0.5, 400, (0.5, 2.0)
    S = _sde_paths(model, y0, N, eta, H, alphas, range(n))
    ca = ov.chain_args(model, model.system.params(eta), N)
    mode, eps = nat.MODES[model.preconditioner], model.damping
    C = np.empty_like(S)
    for j in range(n):
        Q, R, g, s, done = Q0.copy(), R0.copy(), (np.ones(2) if g0 is None else g0.copy()), rng_state(10**6 + j), 0
        for k, a in enumerate(alphas):
            m = round(a * N) - done
            done += m
            assert nat.natural_overlap_steps(Q, R, g, np.ones(2), m, s, ca, mode, eps) == m
            C[j, k] = model.layout.pack(Q, R, g if model.has_bn else None)
    bias = _euler_bias(model, y0, eta, H, alphas, Q0, R0, g0)
    ode = _flat_ode(model, Q0, R0, g0, eta, alphas)
    egS, egC = (np.array([[model.system.eg(y) for y in row] for row in X]) for X in (S, C))
    eg_bias = np.array([model.system.eg(o + b) - model.system.eg(o) for o, b in zip(ode, bias)])
    for a_s, a_c, b in ((S, C, bias), (egS[..., None], egC[..., None], eg_bias[:, None])):
        se = np.sqrt(a_s.var(0, ddof=1) / n + a_c.var(0, ddof=1) / n)
        moving = se > 0
        z = (a_s.mean(0) - a_c.mean(0) - b)[moving] / se[moving]
        assert np.all(np.abs(z) < 4.5), z
        log_ratio = np.log(a_s.std(0, ddof=1)[moving] / a_c.std(0, ddof=1)[moving])
        assert np.all(np.abs(log_ratio) < 4.5 / np.sqrt(n)), np.exp(log_ratio)
    loud = _sde_paths(model, y0, N // 4, eta, H, alphas, range(n))
    assert np.max(np.abs(np.log(loud.std(0) / C.std(0)))) > 4.5 / np.sqrt(n)


def test_mean_of_sde_paths_is_the_ode():
    """400 paths at N = 10^4 (plain natural, eps = 0.1, eta = 0.5, h = 0.0125) from one start: their mean minus the
    scheme's Euler bias is the ODE at alpha = 1, 2, 4 within 4.5 standard errors plus 1/N (the SDE's mean differs from
    the drift's flow at O(1/N): the drift's curvature times the O(1/N) covariance). Measured: 2.4 s.e. (4.5 s.e.
    without subtracting the Euler bias, up to 0.0022 against a standard error of up to 0.0009)."""
    model = sp.Committee(2, 2, preconditioner="natural", damping=0.1)
    Q0, R0, g0, y0 = _start(model)
    N, eta, n, alphas = 10**4, 0.5, 400, (1.0, 2.0, 4.0)
    S = _sde_paths(model, y0, N, eta, H, alphas, range(n))
    ode = _flat_ode(model, Q0, R0, g0, eta, alphas)
    bias = _euler_bias(model, y0, eta, H, alphas, Q0, R0, g0)
    se = S.std(0, ddof=1) / np.sqrt(n)
    dev = np.abs(S.mean(0) - ode - bias)
    assert np.all(dev < 4.5 * se + 1.0 / N), dev / se
    assert np.max(np.abs(ode[-1] - y0)) > 0.1  # the state moved


# -- return codes and bad input ------------------------------------------------------------------------------------

def test_same_seed_same_path_and_the_return_codes():
    model = sp.Committee(2, 2, preconditioner="natural", damping=0.1)
    *_, y0 = _start(model)
    paths = []
    for _ in range(2):
        ka, c, work = ns.natural_sde_setup(model, 1000, 0.5)
        y = y0.copy()
        assert ns.natural_sde_steps(y, ka, rng_state(7), 200, c, work) == 200
        paths.append(y)
    assert np.array_equal(paths[0], paths[1]) and not np.array_equal(paths[0], y0)
    ka, c, work = ns.natural_sde_setup(model, 1000, 0.5, blowup=1e-3)  # a bound the state crosses at once
    y = y0.copy()
    assert ns.natural_sde_steps(y, ka, rng_state(7), 200, c, work) == 0
    ka, c, work = ns.natural_sde_setup(model, 1000, 0.5)
    bad = model.layout.pack(np.eye(2), 2.0 * np.eye(2), None)  # |R_in| > sqrt(Q_ii T_nn): not a Gram matrix
    assert ns.natural_sde_steps(bad, ka, rng_state(7), 10, c, work) == -1
    bn = sp.Committee(2, 2, bn="exact", preconditioner="natural", damping=0.1)  # coinciding students: Q singular
    ka, c, work = ns.natural_sde_setup(bn, 1000, 0.5)
    y = bn.layout.pack(np.ones((2, 2)), 0.3 * np.ones((2, 2)), np.ones(2))
    assert ns.natural_sde_steps(y, ka, rng_state(7), 10, c, work) == 0


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(model=sp.Committee(2, 2)), r"^preconditioner: the SDE"),
    (dict(model=sp.Committee(2, 2, preconditioner="adaptive")), r"^preconditioner: the SDE"),
    (dict(N=3), r"^N must be an integer >= 4"),
    (dict(eta=0.0), r"^eta"),
    (dict(dalpha=-1.0), r"^dalpha"),
    (dict(T=np.eye(3)), r"^T must be a finite \(2, 2\) array"),
])
def test_setup_refuses_bad_input(kwargs, pattern):
    args = dict(model=sp.Committee(2, 2, preconditioner="natural"), N=100, eta=0.5)
    args.update(kwargs)
    model, N, eta = args.pop("model"), args.pop("N"), args.pop("eta")
    with pytest.raises(ValueError, match=pattern):
        ns.natural_sde_setup(model, N, eta, **args)


def test_step_resolves_the_drift():
    """:func:`natural_sde_step`: SGD's 0.05 where ``eta rho <= 1``; at the coinciding plateau, natural at
    ``eps = 1e-3`` and ``eta = 1``, ``0.05/65.75`` (the escape rate ``0.06575/eps`` is the spectral radius there)."""
    fp = sp.symmetric_fixed_point(sp.Committee(2, 2))
    model = sp.Committee(2, 2, preconditioner="natural", damping=1.0)
    assert ns.natural_sde_step(model, 0.5, (fp.Q, fp.R)) == 0.05
    small = model.with_(damping=1e-3)
    assert ns.natural_sde_step(small, 1.0, small.layout.pack(fp.Q, fp.R, None)) == pytest.approx(0.05 / 65.75, rel=1e-3)
    with pytest.raises(ValueError, match="^states"):
        ns.natural_sde_step(small, 1.0)


def _escape_alpha(egs, threshold, spacing):
    """The first crossing of ``threshold`` by ``eps_g`` recorded every ``spacing`` (linear between records)."""
    egs = np.asarray(egs)
    k = int(np.nonzero(egs < threshold)[0][0])
    return (k - 1 + (egs[k - 1] - threshold) / (egs[k - 1] - egs[k])) * spacing


@pytest.mark.slow
def test_escape_times_against_the_exact_chain():
    """Plain K = M = 2, natural at eps = 0.1, eta = 0.5, N = 1000, from 100 random starts (each the chain's and the
    scheme's, with independent noise; step from :func:`natural_sde_step`): the alpha where ``eps_g`` first falls below
    0.01 (read every 0.25) has the chain's mean within 4.5 standard errors (Welch) and standard deviation within
    ``4.5/sqrt(100)`` in logarithm. Measured (docs/model.md §14.7): 27.5 +- 5.3 (chain) against 28.1 +- 5.5 (h =
    0.0125) and 28.6 +- 5.5 (h = 0.05)."""
    model = sp.Committee(2, 2, preconditioner="natural", damping=0.1)
    N, eta, n, threshold, spacing = 1000, 0.5, 100, 0.01, 0.25
    starts = [random_start_overlaps(model, N, np.random.default_rng(1000 + j)) for j in range(n)]
    h = ns.natural_sde_step(model, eta, *starts[:5])
    per = round(spacing / h)
    h = spacing / per
    ka, c, work = ns.natural_sde_setup(model, N, eta, dalpha=h)
    ca = ov.chain_args(model, model.system.params(eta), N)
    chain, sde = [], []
    for j, (Q0, R0) in enumerate(starts):
        Q, R, g, s = Q0.copy(), R0.copy(), np.ones(2), rng_state(10**6 + j)
        egs = [model.system.eg(model.layout.pack(Q, R, None))]
        while egs[-1] >= threshold:
            assert nat.natural_overlap_steps(Q, R, g, np.ones(2), round(spacing * N), s, ca, nat.NATURAL, 0.1) > 0
            egs.append(model.system.eg(model.layout.pack(Q, R, None)))
            assert len(egs) < 2000
        chain.append(_escape_alpha(egs, threshold, spacing))
        y, s = model.layout.pack(Q0, R0, None), rng_state(j)
        egs = [model.system.eg(y)]
        while egs[-1] >= threshold:
            assert ns.natural_sde_steps(y, ka, s, per, c, work) == per
            egs.append(model.system.eg(y))
            assert len(egs) < 2000
        sde.append(_escape_alpha(egs, threshold, spacing))
    chain, sde = np.array(chain), np.array(sde)
    se = np.sqrt(chain.var(ddof=1) / n + sde.var(ddof=1) / n)
    assert abs(sde.mean() - chain.mean()) < 4.5 * se, (sde.mean(), chain.mean(), se)
    assert abs(np.log(sde.std(ddof=1) / chain.std(ddof=1))) < 4.5 / np.sqrt(n)
