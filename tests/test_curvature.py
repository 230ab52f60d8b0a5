"""Curvature at any N (docs/model.md §10): the Hessian and the Fisher information of the weights.

Checks, each independent of the method under test (realisation at N1 = K+M+1,
complex step of the SymPy-derived gradient, the student as its own teacher):

* explicitly built weight-space matrices at small N: the Hessian by central
  differences (step 1e-5) of the exact (complex-step) gradient of the eps_g
  *kernel* of the realised weights' overlaps, to 1e-7 relative (truncation
  ~h^2 times third derivatives, rounding ~1e-16/h);
* the Fisher matrix against Monte Carlo of per-example gradients of realised
  networks at N = 120: quadratic forms and the trace within 4 standard errors
  (seed 0, 40,000 examples);
* at the plateau, the Hessian reproduces the existing weight-space Hessian and
  the Jacobian escape rate lambda/eta = -mu_min;
* N enters only through multiplicities; BN's scale invariance gives exactly K
  null directions of both matrices.
"""
from __future__ import annotations

import numpy as np
import pytest

import symphase as sp
from symphase._curvature import realise_any

RULES = [dict(), dict(bn="paper"), dict(bn="exact"), dict(bn="exact", gain="fixed")]
IDS = ["plain", "bn-paper", "bn-exact", "bn-exact-fixed"]


def random_state(model, rng, N=12):
    J = rng.normal(size=(model.K, N)) / np.sqrt(N)
    B = np.linalg.qr(rng.normal(size=(N, model.M)))[0].T
    g = rng.uniform(0.6, 1.4, model.K) if model.has_bn else None
    return J @ J.T, J @ B.T, g


def eg_of_weights(model, J, B, g):
    """eps_g of realised weights through the eps_g kernel (complex-safe: no derived gradient involved)."""
    y = model.layout.pack(J @ J.T, J @ B.T, g)
    return model.system.eg(y)


def params_of(model, J, g):
    return np.concatenate([J.ravel()] + ([g] if model.learns_gain else []))


def split(model, v, N, g0):
    J = v[:model.K * N].reshape(model.K, N)
    g = (v[model.K * N:] if model.learns_gain else g0.astype(v.dtype)) if model.has_bn else None
    return J, g


@pytest.mark.parametrize("kw", RULES, ids=IDS)
def test_hessian_equals_finite_differences_of_realised_weights(kw):
    """The whole spectrum at N = K+M+2 against the explicitly built (K N + K)^2 Hessian."""
    rng = np.random.default_rng(3)
    model = sp.Committee(2, 3, tau=1.3, **kw)
    Q, R, g = random_state(model, rng)
    N = model.K + model.M + 2
    c = sp.curvature(model, (Q, R, g), N=N)
    J, B = realise_any(model, Q, R)
    J, B = np.hstack([J, np.zeros((model.K, 2))]), np.hstack([B, np.zeros((model.M, 2))])
    g0 = g if g is not None else None
    w0 = params_of(model, J, g0)

    def grad(v):  # exact first derivatives: complex step of the eps_g kernel
        out = np.empty(v.size)
        for j in range(v.size):
            vc = v.astype(complex)
            vc[j] += 1e-30j
            Jc, gc = split(model, vc, N, g0)
            out[j] = eg_of_weights(model, Jc, B, gc).imag / 1e-30
        return out

    h = 1e-5
    H = np.array([(grad(w0 + h * e) - grad(w0 - h * e)) / (2 * h) for e in np.eye(w0.size)])
    H = 0.5 * (H + H.T)
    ref = np.linalg.eigvalsh(H)
    assert ref.size == c.n_params
    assert np.max(np.abs(ref - c.hessian_eigenvalues)) < 1e-7 * np.max(np.abs(ref))


@pytest.mark.parametrize("kw", [dict(), dict(bn="exact")], ids=["plain", "bn-exact"])
def test_fisher_against_monte_carlo_of_per_example_gradients(kw):
    """F = <grad s grad s^T> of realised weights at N = 120: v^T F v for random directions v and
    along the weights, and the trace of the first-layer block, within 4 s.e. of the Monte Carlo
    mean over 40,000 examples (seed 0)."""
    rng = np.random.default_rng(0)
    model = sp.Committee(2, 2, tau=1.5, **kw)
    Q, R, g = random_state(model, rng)
    N, KM = 120, 4
    c = sp.curvature(model, (Q, R, g), N=N)
    Jr, Br = realise_any(model, Q, R)   # the weights: realised in the first K + M inputs, zero elsewhere
    J, B = np.hstack([Jr, np.zeros((2, N - KM))]), np.hstack([Br, np.zeros((2, N - KM))])
    F = c.matrix("fisher")
    N1 = KM + 1
    idx_bulk = np.arange(2) * N1 + KM
    Fb = F[np.ix_(idx_bulk, idx_bulk)]
    P = 40_000
    X = rng.normal(size=(P, N)) * np.sqrt(model.tau)
    x = X @ J.T
    Qd = np.diag(Q)
    h = g / np.sqrt(model.tau * Qd) if model.has_bn else np.ones(2)
    dphi = np.sqrt(2 / np.pi) * np.exp(-0.5 * (h * x) ** 2)
    for V in [rng.normal(size=(2, N)) for _ in range(3)] + [J.copy(), np.vstack([B[0], -B[1]])]:
        xv = X @ V.T   # d s/d J_i . V_i = phi'(u_i) h_i (xi - e x_i J_i/Q_ii) . V_i, e = 1 under BN
        if model.has_bn:
            xv = xv - x * (np.sum(J * V, axis=1) / Qd)
        samples = (dphi * h * xv).sum(axis=1) ** 2
        mc, se = samples.mean(), samples.std(ddof=1) / np.sqrt(P)
        vec = np.concatenate([np.hstack([V[:, :KM], np.zeros((2, 1))]).ravel()]
                             + ([np.zeros(2)] if model.learns_gain else []))
        exact = vec @ F @ vec + np.trace(Fb @ V[:, KM:] @ V[:, KM:].T)
        rounding = 1e-12 * np.abs(F).max() * np.sum(V * V)   # the exact form along a null direction is ~1e-16
        assert abs(mc - exact) < 4 * se + rounding, (mc, se, exact)
    proj = np.sum(X * X, axis=1)[:, None] - (x * x / Qd if model.has_bn else 0.0)
    tr_s = (dphi**2 * h**2 * proj).sum(axis=1)
    v, m = c.spectrum("fisher")
    gpart = np.trace(F[2 * N1:, 2 * N1:]) if model.learns_gain else 0.0
    assert abs(tr_s.mean() - (np.sum(v * m) - gpart)) < 4 * tr_s.std(ddof=1) / np.sqrt(P)


@pytest.mark.parametrize("kw", [dict(), dict(bn="exact"), dict(bn="paper"), dict(bn="exact", gain="fixed")],
                         ids=["plain", "bn-exact", "bn-paper", "bn-exact-fixed"])
@pytest.mark.parametrize("K", [2, 4])
def test_plateau_reproduces_weight_hessian_and_escape_rate(K, kw):
    """At N = K + M the Hessian is the fixed point's weight-space Hessian (to rounding, 1e-12
    relative), and -mu_min is the Jacobian escape rate lambda/eta (to 1e-10)."""
    model = sp.Committee(K, K, **kw)
    fp = sp.symmetric_fixed_point(model)
    c = sp.curvature(model, (fp.Q, fp.R, fp.g), N=2 * K)
    ref = fp.weight_hessian_eigenvalues
    assert np.max(np.abs(c.hessian_eigenvalues - ref)) < 1e-12 * np.max(np.abs(ref))
    assert abs(-c.stats("hessian")["min"] - fp.escape_rate) < 1e-10


@pytest.mark.parametrize("kw", RULES, ids=IDS)
def test_N_enters_only_through_the_bulk_multiplicity(kw):
    rng = np.random.default_rng(1)
    model = sp.Committee(3, 2, **kw)
    Q, R, g = random_state(model, rng)
    small, big = sp.curvature(model, (Q, R, g), N=10), sp.curvature(model, (Q, R, g), N=10**6)
    for kind in ("hessian", "fisher"):
        np.testing.assert_allclose(small.matrix(kind), big.matrix(kind), rtol=0, atol=0)
        v, m = big.spectrum(kind)
        assert m.sum() == big.n_params == 3 * 10**6 + (3 if model.learns_gain else 0)
        bulk = big.bulk[kind]
        for b in bulk:  # each bulk value carries (at least) N - N1 of the multiplicity
            assert m[np.argmin(np.abs(v - b))] >= 10**6 - 6
        e = big.eigenvalues(kind)
        assert e.size == big.n_params and np.all(np.diff(e) >= 0)
        s = big.stats(kind)
        assert s["max"] == pytest.approx(e[-1]) and s["min"] == pytest.approx(e[0])
        assert s["mean"] == pytest.approx(e.mean(), rel=1e-9)


@pytest.mark.parametrize("kw", [dict(bn="paper"), dict(bn="exact"), dict(bn="exact", gain="fixed")],
                         ids=["bn-paper", "bn-exact", "bn-exact-fixed"])
def test_bn_scale_invariance_gives_K_null_directions(kw):
    """Under BN s does not change when J_i -> c J_i: F v = 0 along each J_i at any state (to 1e-12
    relative), and away from special points these are F's only null directions. The Hessian has
    them only where the gradient vanishes (H J_i = -grad_i eps_g by homogeneity of degree 0):
    not at a random state, but at the plateau."""
    rng = np.random.default_rng(2)
    model = sp.Committee(3, 2, **kw)
    Q, R, g = random_state(model, rng)
    c = sp.curvature(model, (Q, R, g), N=50)
    J, _ = realise_any(model, Q, R)
    N1 = model.K + model.M + 1
    J = np.hstack([J, np.zeros((3, 1))])
    F = c.matrix("fisher")
    for i in range(3):
        v = np.zeros(F.shape[0])
        v[i * N1:(i + 1) * N1] = J[i]
        assert np.linalg.norm(F @ v) < 1e-12 * np.linalg.norm(F) * np.linalg.norm(v)
    assert c.stats("fisher")["null_dim"] == 3 and c.stats("fisher")["scale_invariant"] == 3
    assert c.stats("hessian")["scale_invariant"] == 0
    if kw.get("gain") != "fixed":
        fp = sp.symmetric_fixed_point(sp.Committee(3, 3, **kw))
        assert sp.curvature(fp.model, (fp.Q, fp.R, fp.g), N=50).stats("hessian")["scale_invariant"] == 3


def test_plain_fisher_is_positive_definite_away_from_the_plateau():
    rng = np.random.default_rng(4)
    model = sp.Committee(3, 2)
    Q, R, _ = random_state(model, rng)
    s = sp.curvature(model, (Q, R), N=40).stats("fisher")
    assert s["null_dim"] == 0 and s["min"] > 0 and s["condition"] >= 1


def test_result_protocol():
    model = sp.Committee(2, 2, bn="exact")
    fp = sp.symmetric_fixed_point(model)
    c = sp.curvature(model, (fp.Q, fp.R, fp.g), N=100)
    assert c.status == "completed" and c.success and c.raise_for_status() is c
    assert repr(c).startswith("Curvature(") and "\n" not in repr(c)
    import json
    d = json.loads(json.dumps(c.to_dict(), allow_nan=False))
    assert d["fisher"]["stats"] == c.stats("fisher") and sum(d["hessian"]["multiplicities"]) == c.n_params
    ds = c.to_xarray()
    assert int(ds["hessian_multiplicity"].sum()) == c.n_params
    assert ds.attrs["fisher_null_dim"] == c.stats("fisher")["null_dim"] >= 2
    assert c.block("hessian", "J").size == 2 * 5
    assert c.block("fisher", "g").size == 2


def test_bad_input():
    model = sp.Committee(2, 3)
    Q, R = 0.5 * np.eye(2), 0.1 * np.ones((2, 3))
    with pytest.raises(ValueError, match="^N must be an integer >= 5"):
        sp.curvature(model, (Q, R), N=4)
    with pytest.raises(ValueError, match="^N must be"):
        sp.curvature(model, (Q, R), N=10.5)
    with pytest.raises(ValueError, match="positive semi-definite"):
        sp.curvature(model, (Q, 2.0 * np.ones((2, 3))), N=10)
    with pytest.raises(ValueError, match=r"^state\.g is only meaningful"):
        sp.curvature(model, (Q, R, np.ones(2)), N=10)
    with pytest.raises(ValueError, match="^kind must be"):
        sp.curvature(model, (Q, R), N=10).spectrum("laplacian")
    with pytest.raises(TypeError):
        sp.curvature("model", (Q, R), N=10)


def test_along_a_trajectory_and_a_simulation_and_at_a_fixed_point():
    """The statistics along a trajectory equal curvature() at each recorded state; a simulation uses
    its own N and seeds; FixedPoint.curvature is curvature() at the fixed point."""
    model = sp.Committee(2, 2, bn="exact")
    Q0, R0, g0, _ = sp.random_initial(model, 500, 0)
    res = sp.integrate(model, 1.0, 50.0, start=(Q0, R0, g0), alphas=[0.0, 5.0, 50.0])
    tr = res.curvature(N=500)
    for j in range(3):
        st = sp.curvature(model, (res.Q[j], res.R[j], res.g[j]), N=500).stats("fisher")
        assert tr.values["fisher"]["max"][j] == st["max"] and tr.values["fisher"]["null_dim"][j] == 2
    assert tr.to_xarray()["hessian_min"].dims == ("alpha",)
    with pytest.raises(ValueError, match="^N must be given"):
        res.curvature()
    sim = sp.simulate(model, 60, 1.0, 1.0, seeds=2, alphas=[0.0, 1.0])
    st = sim.curvature()
    assert st.N == 60 and st.values["hessian"]["max"].shape == (2, 2)
    assert st.to_xarray()["fisher_max"].dims == ("seed", "alpha")
    fp = sp.symmetric_fixed_point(model)
    assert fp.curvature(40).stats("hessian") == sp.curvature(model, (fp.Q, fp.R, fp.g), N=40).stats("hessian")


def test_cli(capsys):
    from symphase.cli import main
    assert main(["curvature", "--K", "2", "--bn", "exact", "--N", "500", "--json"]) == 0
    import json
    d = json.loads(capsys.readouterr().out)
    fp = sp.symmetric_fixed_point(sp.Committee(2, 2, bn="exact"))
    ref = fp.curvature(500)
    assert d["hessian"]["stats"] == ref.stats("hessian") and d["n_params"] == 1002
    assert main(["curvature", "--K", "3", "--M", "2", "--random", "--seed", "4", "--N", "30"]) == 0
    out = capsys.readouterr().out
    assert "fisher:" in out and "null dim 0" in out
    assert main(["curvature", "--K", "2", "--N", "3"]) == 2
    assert "N must be an integer >= 4" in capsys.readouterr().err
    assert main(["curvature", "--K", "2", "--Q", "1,0;0,1"]) == 2
    assert "--Q and --R go together" in capsys.readouterr().err


def test_finding_bn_worsens_the_fisher_conditioning_on_the_plateau():
    """Finding (README, docs/model.md §7.7), K = M = 3, eta = 1, N = 1000, seed 0, ODE (deterministic):
    along the learning curve the Fisher condition number (non-null spectrum) peaks on the plateau at
    about 50 for plain and about 1.5e4 for both BN rules; after learning BN's Fisher lambda_max is
    about a quarter of plain's (the first-layer block scales with h^2 = g^2/(tau Q_ii), which fell
    as the norm grew). Pinned loosely: ratio of peaks > 100, ratio of final lambda_max < 0.35."""
    K, N = 3, 1000
    alphas = sp.default_alphas(5000.0, 60)
    out = {}
    for rule in ("plain", "paper", "exact"):
        model = sp.Committee(K, K, bn=rule)
        Q0, R0, g0, _ = sp.random_initial(model, N, 0)
        res = sp.integrate(model, 1.0, 5000.0, start=(Q0, R0, g0), alphas=alphas, eg_tol=0.0).raise_for_status()
        v = res.curvature(N).values["fisher"]
        out[rule] = (np.nanmax(v["condition"]), v["max"][-1])
    for rule in ("paper", "exact"):
        assert out[rule][0] > 100 * out["plain"][0]
        assert out[rule][1] < 0.35 * out["plain"][1]


def test_finding_fisher_lambda_max_grows_with_K_not_with_N():
    """At the random start (seed 0, N = 1000) lambda_max of the Fisher grows with K (0.69, 1.01, 1.31,
    1.95 for K = 2, 3, 4, 6: about K/3) and is the same at N = 10^6 for the same overlaps."""
    prev = 0.0
    for K in (2, 3, 4, 6):
        model = sp.Committee(K, K)
        Q0, R0, _, _ = sp.random_initial(model, 1000, 0)
        lmax = sp.curvature(model, (Q0, R0), N=1000).stats("fisher")["max"]
        assert lmax > prev and abs(lmax - K / 3) < 0.15 * K / 3
        assert sp.curvature(model, (Q0, R0), N=10**6).stats("fisher")["max"] == pytest.approx(lmax, rel=1e-12)
        prev = lmax


@pytest.mark.parametrize("kw", RULES, ids=IDS)
def test_fisher_closed_form_equals_the_student_as_its_own_teacher(kw):
    """Two independent routes to F (docs/model.md §10.2, derivations/DERIVATION.md §10): the closed form
    from the SymPy-derived pair averages (Stein's lemma, Price's theorem, the BN projector) against
    the complex-step Hessian for a teacher equal to the student; agreement to 1e-12 relative
    (rounding of O(100) operations)."""
    from symphase._curvature import fisher_closed_form
    rng = np.random.default_rng(7)
    model = sp.Committee(3, 2, tau=1.4, **kw)
    Q, R, g = random_state(model, rng)
    c = sp.curvature(model, (Q, R, g), N=30)
    J, _ = realise_any(model, Q, R)
    J = np.hstack([J, np.zeros((3, 1))])
    F = fisher_closed_form(model, J, g)
    ref = c.matrix("fisher")
    assert np.max(np.abs(F - ref)) < 1e-12 * np.max(np.abs(ref))
