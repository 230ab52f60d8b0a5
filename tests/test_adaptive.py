"""``preconditioner="adaptive"``: Amari-Park-Fukumizu's adaptive natural gradient on the weights (docs/model.md §14.9).

* The kernel against a plain NumPy transcription of the same update (its own erf, its own SGD direction and
  output gradient, the same random stream drawn through :func:`symphase._rng.next_normal`), 50 steps at
  ``N = 8``, ``K = 2``: plain, exact BN with a learned gain (batch 2, output noise, ``tau != 1``) and the
  paper's BN with a fixed gain, to ``1e-12`` of the weights and of ``G^-1`` (the two sum the same products
  in other orders; measured about ``1e-15``).
* ``e_t = 0`` keeps ``G^-1 = I``: SGD bit for bit plain with ``b = 1``; to rounding under exact BN
  (``J + (a xi - p J)`` against SGD's ``(1 - p) J + a xi``).
* ``simulate`` runs it and leaves the plateau where SGD has not.
* What it does not run is refused in one line naming the option.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import symphase as sp
from symphase import _adaptive as ada
from symphase import _rule as rl
from symphase import _sgd
from symphase._rng import next_normal, rng_state


def _setup(model, N, seed=3):
    rng = np.random.default_rng(seed)
    J = rng.standard_normal((model.K, N)) / math.sqrt(N)
    B = rng.standard_normal((model.M, N)) / math.sqrt(N)
    g = 1.0 + 0.3 * rng.standard_normal(model.K) if model.has_bn else np.ones(model.K)
    return J, B, g


def _reference(model, J, B, g, eta, n_steps, seed):
    """The update of docs/model.md §14.9 in NumPy, from the definitions (not the kernel's code)."""
    K, N = J.shape
    b, tau, bn = model.batch, model.tau, model.has_bn
    exact, learn = model.bn == "exact", model.has_bn and model.gain == "learned"
    sigma, noise_sd = math.sqrt(tau), math.sqrt(model.noise)
    erf = np.vectorize(math.erf)
    phi = lambda u: erf(u / math.sqrt(2.0))  # noqa: E731
    dphi = lambda u: math.sqrt(2.0 / math.pi) * np.exp(-0.5 * u * u)  # noqa: E731
    J, g = J.copy(), g.copy()
    P = N * K + (K if learn else 0)
    Ginv = np.eye(P)
    rate = ada.ADAPTIVE_RATE / P
    lr = eta / (N * b)
    s, tick = rng_state(seed), 0
    for _ in range(n_steps):
        q = np.sum(J * J, axis=1)
        inv_s = 1.0 / (sigma * np.sqrt(q)) if bn else np.ones(K)
        h = g * inv_s if bn else np.ones(K)
        dth, grads = np.zeros(P), []
        for _u in range(b):
            xi = sigma * np.array([next_normal(s) for _ in range(N)])
            noise = noise_sd * next_normal(s) if noise_sd > 0.0 else 0.0
            x, y = J @ xi, B @ xi
            delta = np.sum(phi(y)) + noise - np.sum(phi(h * x))
            ds = dphi(h * x)                                        # ds/du_i (c = v_i = 1)
            proj = xi[None, :] - (x / q)[:, None] * J if bn else np.tile(xi, (K, 1))
            gJ = (ds * h)[:, None] * proj                           # grad_{J_i} s, the true gradient
            sgdJ = (lr * delta * ds * h)[:, None] * (proj if exact or not bn else np.tile(xi, (K, 1)))
            grad = np.concatenate([gJ.T.ravel(), ds * x * inv_s if learn else []])
            dth += np.concatenate([sgdJ.T.ravel(), lr * delta * ds * x * inv_s if learn else []])
            grads.append(grad)
        step = Ginv @ dth
        J += step[:N * K].reshape(N, K).T
        if learn:
            g += step[N * K:]
        for grad in grads:
            w, col = Ginv @ grad, Ginv @ np.eye(P)[tick % P]
            Ginv = (1.0 + rate) * Ginv - rate * np.outer(w, w) - rate * model.damping * P * np.outer(col, col)
            tick += 1
    return J, g, Ginv


@pytest.mark.parametrize("model", [
    sp.Committee(2, 2, preconditioner="adaptive", damping=0.05),
    sp.Committee(2, 3, bn="exact", batch=2, noise=0.1, tau=1.3, preconditioner="adaptive"),
    sp.Committee(2, 2, bn="paper", gain="fixed", preconditioner="adaptive"),
], ids=["plain", "exact-learned-b2-noise-tau", "paper-fixed"])
def test_kernel_equals_numpy_reference(model):
    N, eta, n_steps, seed = 8, 0.7, 50, 11
    J, B, g0 = _setup(model, N)
    par = model.system.params(eta)
    wa = ada.adaptive_weight_args(model, par, B)
    Jt, g = np.ascontiguousarray(J.T), g0.copy()
    assert ada.adaptive_steps(Jt, g, np.ones(2), n_steps, rng_state(seed), wa) == n_steps
    Jr, gr, Gr = _reference(model, J, B, g0, eta, n_steps, seed)
    np.testing.assert_allclose(Jt.T, Jr, rtol=0, atol=1e-12 * np.abs(Jr).max())
    np.testing.assert_allclose(g, gr, rtol=1e-12)
    np.testing.assert_allclose(wa.Ginv, Gr, rtol=0, atol=1e-12 * np.abs(Gr).max())
    assert np.array_equal(wa.Ginv, wa.Ginv.T)  # the rank-one update keeps it symmetric bit for bit
    assert np.abs(wa.Ginv - np.eye(wa.Ginv.shape[0])).max() > 1e-3  # the estimate moved: the test can fail


@pytest.mark.parametrize("bn", [None, "exact"])
def test_zero_rate_is_sgd(bn):
    """``e_t = 0``, ``G^-1 = I``: SGD's step; plain bit for bit, exact BN to 1e-14 of the weights (rounding)."""
    model = sp.Committee(2, 2, bn=bn, preconditioner="adaptive")
    N, eta, n_steps, seed = 20, 0.5, 200, 5
    J, B, g0 = _setup(model, N)
    par = model.system.params(eta)
    wa = ada.adaptive_weight_args(model, par, B)._replace(rate=0.0)
    Jt, g = np.ascontiguousarray(J.T), g0.copy()
    assert ada.adaptive_steps(Jt, g, np.ones(2), n_steps, rng_state(seed), wa) == n_steps
    Js, gs = np.ascontiguousarray(J.T), g0.copy()
    assert _sgd.sgd_steps(Js, gs, np.ones(2), n_steps, rng_state(seed), _sgd.weight_args(model, par, B)) == n_steps
    assert np.array_equal(wa.Ginv, np.eye(wa.Ginv.shape[0]))
    if bn is None:
        assert np.array_equal(Jt, Js)
    else:
        np.testing.assert_allclose(Jt, Js, rtol=0, atol=1e-14 * np.abs(Js).max())
        np.testing.assert_allclose(g, gs, rtol=1e-14)
    assert np.abs(Jt - J.T).max() > 1e-2  # the weights moved


def test_simulate_escapes_the_plateau():
    """K = M = 2, eta = 0.5, N = 100, the paper's random start, seeds 0 and 1: at alpha = 60 adaptive's eps_g is
    below 0.0078 (half plain SGD's plateau, docs/model.md §14.8; measured escape at alpha 27-30 with 2.5e-4 at
    60), SGD's from the same starts still above it (on the plateau: SGD escapes at alpha ~100-200). Fails if
    adaptive stalls, diverges (status) or is SGD."""
    alphas = np.array([10.0, 30.0, 60.0])
    res = sp.simulate(sp.Committee(2, 2, preconditioner="adaptive"), 100, 0.5, 60.0, seeds=2, alphas=alphas,
                      workers=1).raise_for_status()
    sgd = sp.simulate(sp.Committee(2, 2), 100, 0.5, 60.0, seeds=2, alphas=alphas, workers=1).raise_for_status()
    assert np.all(res.eg[:, -1] < 0.0078), res.eg
    assert np.all(sgd.eg[:, -1] > 0.0078), sgd.eg


@pytest.mark.parametrize("call, pattern", [
    (lambda m: sp.simulate(m, 50, 0.5, 1.0, method="overlaps"),
     r"^preconditioner: method='overlaps' does not run preconditioner='adaptive' yet; it runs in "
     r"simulate\(method='weights'\)"),
    (lambda m: sp.simulate(m, 50, 0.5, 1.0, method="sde"), r"^preconditioner: method='sde' does not run "
                                                          r"preconditioner='adaptive' yet"),
    (lambda m: sp.integrate(m, 0.5, 1.0, start="random"), r"^preconditioner: .* does not run "
                                                          r"preconditioner='adaptive' yet"),
    (lambda m: sp.symmetric_fixed_point(m, 0.5), r"^preconditioner: symmetric_fixed_point does not run "
                                                 r"preconditioner='adaptive' yet"),
    (lambda m: sp.escape_time(m, 100, 0.5), r"^preconditioner: escape_time does not run preconditioner='adaptive' yet"),
    (lambda m: sp.simulate(m, 2049, 0.5, 0.01), r"^N: preconditioner='adaptive' keeps a P x P estimate .* "
                                                r"N <= 2048 at K = 2; got N = 2049"),
    (lambda m: sp.simulate(m.with_(bn="exact", batch=2), 50, 0.5, 1.0, bn_stats="batch"),
     r"^bn_stats: method='weights' with preconditioner='adaptive' runs the soft committee machine with "
     r"population statistics only"),
], ids=["overlaps", "sde", "integrate", "fixed-point", "escape-time", "too-large-N", "batch-stats"])
def test_refusals(call, pattern):
    with pytest.raises(ValueError, match=pattern) as info:
        call(sp.Committee(2, 2, preconditioner="adaptive"))
    assert "\n" not in str(info.value)


def test_registered():
    rule = rl.RULES["adaptive"]
    assert rule.supports == frozenset({"weights"})
    k = rule.bind(sp.Committee(2, 2, preconditioner="adaptive"))
    assert k.sgd_steps is ada.adaptive_steps and k.weight_args is ada.adaptive_weight_args
    assert k.overlap_steps is None and k.drift is None
    with pytest.raises(TypeError, match="use bind"):
        rule.kernels  # noqa: B018
