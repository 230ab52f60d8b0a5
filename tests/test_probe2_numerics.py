"""Issue 22 (second reliability probe), the numerics: items 3, 5, 6 (curvature), 7 and 8.

Each test fails on the code before the fix; the issue's reproduction is quoted in each docstring.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import symphase as sp
from symphase._curvature import realise_any


def eg_plain(Q, R, T):
    """eps_g of the plain committee machine (erf(x/sqrt 2), tau = 1; Saad & Solla 1995), written
    out here as an independent reference: ``(1/pi)[sum asin(Q_ik/sqrt((1+Q_ii)(1+Q_kk))) + (same
    for T) - 2 sum asin(R_in/sqrt((1+Q_ii)(1+T_nn)))]``."""
    q, t = 1 + np.diag(Q), 1 + np.diag(T)
    return (np.sum(np.arcsin(Q / np.sqrt(np.outer(q, q)))) + np.sum(np.arcsin(T / np.sqrt(np.outer(t, t))))
            - 2 * np.sum(np.arcsin(R / np.sqrt(np.outer(q, t))))) / np.pi


# -- item 3: wrong curvature reported as completed ------------------------------------------
#: mu_min * norm at the exact-rule BN fixed point, K = M = 2, at norm 1 (this code, N = 100)
MU_MIN_TIMES_NORM = -0.02191660245552008


@pytest.mark.parametrize("norm", [1e4, 1e8, 1e9, 1e10])
def test_bn_curvature_is_scale_invariant_in_the_norm(norm):
    """Exact-rule BN at the fixed point with ``norm = n``, N = 100: ``stats()["min"] * n`` stays
    -0.0219 (eps_g depends on J_i only through J_i/|J_i|, and the escape direction does not couple
    to the gains). Before: -0.000217 at 1e8, +0.16 at 1e9 (a saddle called a minimum), -2257 at
    1e10, all "completed". Tolerance 6e-5 relative: the eigensolver resolves the smallest
    eigenvalue to EPS * condition = 6e-5 at 1e10 (condition 2.7e11). The fixed point's last bit moves
    that much: measured 3e-7 with the right-hand side compiled with fastmath, 1.8e-5 without (the
    fixed points differ by one ulp in R and g); the tolerance was 1e-5 then, below its own bound."""
    model = sp.Committee(2, 2, bn="exact")
    fp = sp.symmetric_fixed_point(model, norm=norm)
    c = sp.curvature(model, (fp.Q, fp.R, fp.g), N=100)
    assert c.status == "completed"
    assert c.stats("hessian")["min"] * norm == pytest.approx(MU_MIN_TIMES_NORM, rel=6e-5)


def test_realisation_keeps_small_rows_exact():
    """The realised teachers satisfy ``B B^T = T`` to rounding at a BN norm 1e10 (before: 6e-6 off,
    the eigensolver's absolute error eps * 1e10 on an O(1) block)."""
    model = sp.Committee(2, 2, bn="exact")
    fp = sp.symmetric_fixed_point(model, norm=1e10)
    J, B = realise_any(model, fp.Q, fp.R)
    assert np.max(np.abs(B @ B.T - model.T)) < 1e-14
    assert np.max(np.abs(J @ J.T - fp.Q)) < 1e-14 * 1e10
    assert np.max(np.abs(J @ B.T - fp.R)) < 1e-14 * np.max(np.abs(fp.R))


def test_small_spectrum_is_not_merged_into_one_value():
    """Plain, ``Q = 1e10 I``, ``R = 0``, N = 100: the Hessian's eigenvalues are +-1.1e-10 (before:
    min = max = 4.4e-16, every eigenvalue merged by the absolute 1e-9 floor). Checked against a
    central second difference of eps_g along the eigenvectors of the extreme eigenvalues, at a step
    of 1e-3 of |J_i| (truncation O(1e-6) relative; rounding eps/h^2 ~ 2e-20, far below 1e-10):
    agreement to 1e-4 relative."""
    model = sp.Committee(2, 2)
    Q, R = 1e10 * np.eye(2), np.zeros((2, 2))
    c = sp.curvature(model, (Q, R), N=100)
    assert c.status == "completed"
    v, m = c.spectrum("hessian")
    assert v.size == 8 and m.sum() == c.n_params
    s = c.stats("hessian")
    assert s["min"] < -1e-10 and s["max"] > 1e-10 and s["null_dim"] == 0
    # finite differences of eps_g in the weights, along the extreme eigenvectors at N1 inputs
    A = c.matrix("hessian")
    J, B = realise_any(model, Q, R)
    N1 = A.shape[0] // 2
    J, B = np.hstack([J, np.zeros((2, N1 - J.shape[1]))]), np.hstack([B, np.zeros((2, N1 - B.shape[1]))])
    _, V = np.linalg.eigh(A)
    h = 1e-3 * 1e5

    Q0, R0 = 0.5 * np.eye(2) + 0.1, 0.3 * np.ones((2, 2))
    assert eg_plain(Q0, R0, model.T) == pytest.approx(sp.generalization_error(model, (Q0, R0)), rel=1e-14)

    def eg(Jw):
        return eg_plain(Jw @ Jw.T, Jw @ B.T, model.T)

    for j, ref in ((0, s["min"]), (-1, s["max"])):
        d = V[:, j].reshape(2, N1)
        fd = (eg(J + h * d) - 2 * eg(J) + eg(J - h * d)) / h**2
        assert fd == pytest.approx(ref, rel=1e-4)


@pytest.mark.parametrize("case", ["bn-norm-1e12", "plain-Q-1e12"])
def test_lost_precision_is_not_completed(case):
    """Where double precision cannot resolve the spectrum to 4 digits (EPS * condition > 1e-4),
    the curvature says so: status "failed", a message, the spectra kept. BN with a learned gain at
    norm 1e12 (gain block O(1), weight block O(1e-12): condition 2.7e13), plain at Q = 1e12 I (the
    Fisher spectrum spans 2e12). Before: "completed"."""
    if case.startswith("bn"):
        model = sp.Committee(2, 2, bn="exact")
        fp = sp.symmetric_fixed_point(model, norm=1e12)
        c = sp.curvature(model, (fp.Q, fp.R, fp.g), N=100)
    else:
        model = sp.Committee(2, 2)
        c = sp.curvature(model, (1e12 * np.eye(2), np.zeros((2, 2))), N=100)
    assert c.status == "failed" and not c.success and "precision lost" in c.message
    with pytest.raises(sp.SymphaseError, match="precision lost"):
        c.raise_for_status()
    assert np.all(np.isfinite(c.hessian_eigenvalues))


def test_fixed_gain_bn_curvature_is_exact_at_any_norm():
    """With a fixed gain every parameter is a weight: the spectrum scales exactly as 1/norm, so
    it stays resolved (completed) and equal to the norm-1 spectrum times 1/norm, to 1e-9 relative
    (rounding of the realisation and the complex-step Hessian; measured 1e-13), up to norm 1e30."""
    model = sp.Committee(2, 2, bn="exact", gain="fixed")
    ref = sp.curvature(model, _fp_state(model, 1.0), N=100).stats("hessian")
    for norm in (1e10, 1e30):
        c = sp.curvature(model, _fp_state(model, norm), N=100)
        assert c.status == "completed"
        assert c.stats("hessian")["min"] * norm == pytest.approx(ref["min"], rel=1e-9)


def _fp_state(model, norm):
    fp = sp.symmetric_fixed_point(model, norm=norm)
    return fp.Q, fp.R, fp.g


def test_curvature_along_counts_imprecise_and_out_of_range_states():
    """Along a trajectory each state's precision is reported in the message (the statistics are
    kept), and a state outside curvature()'s range is NaN and counted (before: an OverflowError or
    a traceback). The trajectories are built by hand: integrate() refuses such starts."""
    from symphase._results import Status
    from symphase._trajectory import ODEResult
    model = sp.Committee(2, 2, bn="exact")
    fp = sp.symmetric_fixed_point(model, norm=1e12)
    res = ODEResult(model, 0.0, np.array([0.0, 1.0]), np.stack([fp.Q] * 2), np.stack([fp.R] * 2),
                    np.stack([fp.g] * 2), np.array([fp.eg] * 2), Status.COMPLETED, "by hand")
    tr = res.curvature(N=100)
    assert "at 2 state(s) the smallest eigenvalues keep fewer than 4 significant digits" in tr.message
    assert np.all(np.isfinite(tr.values["hessian"]["min"]))
    plain = sp.Committee(2, 2)
    Q = np.stack([np.eye(2), 1e16 * np.eye(2)])
    res = ODEResult(plain, 1.0, np.array([0.0, 1.0]), Q, np.zeros((2, 2, 2)), None, np.zeros(2),
                    Status.COMPLETED, "by hand")
    tr = res.curvature(N=100)
    assert "1 state(s) left NaN, a field variance above 1e+12" in tr.message
    assert np.isfinite(tr.values["hessian"]["min"][0]) and np.isnan(tr.values["hessian"]["min"][1])


# -- item 6: tracebacks on absurd but accepted values (curvature) -----------------------------
@pytest.mark.parametrize("q, match", [(1e16, "^Q: the field variance"), (1e300, "^Q: the field variance"),
                                      (1e13, "^Q: the field variance")])
def test_curvature_refuses_field_variances_it_cannot_resolve(q, match):
    """``curvature --Q 1e16...``: complex division by zero; ``--Q 1e300``: "Eigenvalues did not
    converge". Now a ValueError naming Q and its range (tau Q_ii <= 1e12)."""
    with pytest.raises(ValueError, match=match) as e:
        sp.curvature(sp.Committee(2, 2), (q * np.eye(2), np.zeros((2, 2))), N=100)
    assert "<= 1e+12" in str(e.value)


def test_curvature_refuses_bn_norms_and_gains_out_of_range():
    """Under BN the norm ``Q_ii`` must lie in [1e-100, 1e100] (as a fixed point's ``norm``) and the
    field variance ``g_i^2`` be at most 1e12."""
    model = sp.Committee(2, 2, bn="exact")
    with pytest.raises(ValueError, match=r"^Q: under batch norm Q_ii must lie in \[1e-100, 1e\+100\]"):
        sp.curvature(model, (1e300 * np.eye(2), np.zeros((2, 2))), N=100)
    with pytest.raises(ValueError, match=r"^g: the field variance g_i\^2 must be <= 1e\+12"):
        sp.curvature(model, (np.eye(2), np.zeros((2, 2)), [1e7, 1.0]), N=100)


def test_cli_curvature_exit_codes(capsys):
    """The CLI: a refused state exits 2 with one line naming Q; a spectrum without precision prints
    its table, then one line, exit 1."""
    from symphase.cli import main
    assert main(["curvature", "--Q", "1e16,0;0,1e16", "--R", "0,0;0,0", "--N", "100"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("symphase: error: Q: the field variance") and "\n" not in err
    assert main(["curvature", "--bn", "exact", "--norm", "1e12", "--N", "100"]) == 1
    out, err = capsys.readouterr()
    assert "hessian: min" in out and err.strip().startswith("symphase: failed: precision lost")
    assert main(["curvature", "--bn", "exact", "--norm", "1e12", "--N", "100", "--json"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["status"] == "failed"


# -- item 7: huge N -------------------------------------------------------------------------
@pytest.mark.parametrize("N", [2**53 + 1, 2**64, 10**30])
def test_huge_N_is_refused_by_name(N):
    """``curvature(N=1e30)`` and ``curvature_along(N=10**30)``: OverflowError; ``escape_time(N=2**64)``:
    Numba TypingError. Now a ValueError naming N and its range [K + M, 2^53] (N is used as a
    float: 2^53 is the largest integer below which every integer is one)."""
    model = sp.Committee(2, 2)
    match = r"^N must be an integer >= 4 and <= 2\^53"
    with pytest.raises(ValueError, match=match):
        sp.curvature(model, (0.5 * np.eye(2), 0.5 * np.eye(2)), N=N)
    res = sp.integrate(model, 1.0, 1.0, start=(0.5 * np.eye(2), 0.1 * np.eye(2)), alphas=[0.0, 1.0])
    with pytest.raises(ValueError, match=match):
        res.curvature(N=N)
    with pytest.raises(ValueError, match=match):
        sp.escape_time(model, N, 1.0, samples=2)


def test_N_at_its_bound_works():
    """``N = 2^53`` is accepted: the bulk multiplicity and the parameter count stay exact integers."""
    c = sp.curvature(sp.Committee(2, 2), (0.5 * np.eye(2), 0.5 * np.eye(2)), N=2**53)
    assert c.n_params == 2 * 2**53 and int(c.spectrum("hessian")[1].sum()) == 2 * 2**53


# -- item 8: two-layer fixed points and the result protocol -----------------------------------
TWO_LAYER = [{"second_layer": "learned"}, {"second_layer": "learned", "bn": "exact"}, {"scaling": "1/K"},
             {"weight_decay": 1e-3}, {"v_teacher": [0.7, 0.7]}]


@pytest.mark.parametrize("kw", TWO_LAYER, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_two_layer_fixed_point_keeps_the_result_protocol(kw):
    """``FixedPoint.to_dict()`` and ``to_xarray()`` raised for ``second_layer="learned"``,
    ``scaling``, ``weight_decay`` and ``v_teacher``, because of the paper's reduced Hessian (the
    committee machine's only). Now it is null in the dict, absent from the dataset; every other
    entry is there, JSON-strict."""
    fp = sp.symmetric_fixed_point(sp.Committee(2, 2, **kw))
    assert not fp.has_reduced_hessian
    d = json.loads(json.dumps(fp.to_dict(), allow_nan=False))
    assert d["reduced_hessian_eigenvalues"] is None and d["reduced_hessian_names"] is None
    assert d["escape_rate"] == pytest.approx(fp.escape_rate) and len(d["weight_hessian_eigenvalues"]) > 0
    assert (d.get("v") is not None) == fp.model.learns_v
    ds = fp.to_xarray()
    assert "reduced_hessian_eigenvalues" not in ds and "reduced_mode" not in ds.coords
    assert "weight_hessian_eigenvalues" in ds and ds.attrs["status"] == "completed"
    with pytest.raises(ValueError, match="^model: the paper's reduced Hessian"):
        _ = fp.reduced_hessian  # asked for explicitly, it is still refused by name


def test_committee_fixed_point_keeps_its_reduced_hessian():
    """The committee machine's results are unchanged: the reduced Hessian is there (the paper's -1.44)."""
    fp = sp.symmetric_fixed_point(sp.Committee(2, 2))
    assert fp.has_reduced_hessian
    assert fp.to_dict()["reduced_hessian_eigenvalues"][0] == pytest.approx(-1.4406280613929259, rel=1e-12)
    assert "reduced_hessian_eigenvalues" in fp.to_xarray()


def test_two_layer_other_fixed_points_carry_v():
    """``.others`` of a learned second layer solved v as one more unknown (before: a ValueError from
    the state layout, which broke ``fixed-point --json``): the perfect student, v = 1, is found."""
    fp = sp.symmetric_fixed_point(sp.Committee(2, 2, second_layer="learned"))
    others = fp.others
    assert others and all(o.v is not None for o in others)
    best = min(others, key=lambda o: o.eg)
    assert abs(best.eg) < 1e-12 and np.allclose(best.v, 1.0, atol=1e-10)


@pytest.mark.parametrize("json_flag", [False, True], ids=["table", "json"])
def test_cli_fixed_point_second_layer_learned(capsys, json_flag):
    """``fixed-point --second-layer learned`` printed half a table then "error" with exit 2; with
    ``--json`` nothing. Now the whole table (v, and the reduced Hessian said to be undefined), exit 0."""
    from symphase.cli import main
    rc = main(["fixed-point", "--second-layer", "learned"] + (["--json"] if json_flag else []))
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    if json_flag:
        d = json.loads(out)
        assert d["reduced_hessian_eigenvalues"] is None and d["others"] and "v" in d["others"][0]
    else:
        assert "v        :" in out and "weight-space Hessian eigenvalues" in out
        assert out.rstrip().endswith("reduced Hessian: not defined (the paper's Hessian covers the soft committee "
                                     "machine only)")


# -- item 5: zero student weights in the plain model ------------------------------------------
def test_plain_rates_at_zero_weights_are_the_erf_limit():
    """``rhs(m, 0, 0)`` was NaN (the exact rule's ``e Q_ik/Q_ii`` evaluated as ``0 * (0/0)`` at e = 0).
    At Q = R = 0 (K = M = 2, T = I, tau = 1) every student field is 0, so ``phi'(0)^2 = 2/pi`` and
    ``dR_in/dalpha = eta <phi'(0) phi(y_n) y_n> = eta sqrt(2)/pi``, ``dQ_ik/dalpha = eta^2 (2/pi)
    <(phi(y_1) + phi(y_2))^2> = eta^2 4/(3 pi)`` (``<phi(y)^2> = (2/pi) asin(1/2)``); to 1e-14
    relative (rounding). And continuity: the rates at ``Q = 1e-10 I`` differ by O(1e-10)."""
    model = sp.Committee(2, 2)
    Z = np.zeros((2, 2))
    eta = 0.7
    y = model.system.state(Z, Z)
    r = model.system.rhs(y, eta)
    Qd, Rd, _ = model.layout.unpack(r)
    np.testing.assert_allclose(Qd, eta**2 * 4 / (3 * np.pi), rtol=1e-14)
    np.testing.assert_allclose(Rd, eta * np.sqrt(2) / np.pi, rtol=1e-14)
    near = model.system.rhs(model.system.state(1e-10 * np.eye(2), Z), eta)
    assert np.max(np.abs(near - r)) < 1e-8


def test_ode_from_zero_weights_learns(capsys):
    """``ode --Q0 0 --R0 0`` failed with "step size fell below 1e-12"; now it integrates (plain SGD
    from zero weights learns) and the CLI exits 0."""
    model = sp.Committee(2, 2)
    Z = np.zeros((2, 2))
    res = sp.integrate(model, 1.0, 300.0, start=(Z, Z))
    assert res.status == "completed" and np.all(np.isfinite(res.eg)) and res.eg[-1] < 0.5 * res.eg[0]
    from symphase.cli import main
    assert main(["ode", "--Q0", "0,0;0,0", "--R0", "0,0;0,0", "--alpha-max", "50", "--points", "3"]) == 0
    assert "completed" in capsys.readouterr().out


def test_diffusion_matrix_at_zero_weights_is_finite_and_the_limit():
    """``diffusion_matrix`` at zero weights was all NaN with no error. Now finite, symmetric, and
    the limit of nearby states: the closed-form (linear) part to 1e-8 at ``Q = 1e-10 I``; the full
    matrix (cubature, whose rank changes at 0) to 1e-3 (its cubature error; measured 5e-5)."""
    model = sp.Committee(2, 2)
    Z = np.zeros((2, 2))
    for part, tol in (("linear", 1e-8), ("full", 1e-3)):
        D0 = sp.diffusion_matrix(model, (Z, Z), 1.0, part=part).D
        D1 = sp.diffusion_matrix(model, (1e-10 * np.eye(2), Z), 1.0, part=part).D
        assert np.all(np.isfinite(D0)) and np.allclose(D0, D0.T)
        assert np.max(np.abs(D0 - D1)) < tol


def test_bn_at_zero_weights_is_refused_naming_start_Q():
    """Batch norm divides by sqrt(Q_ii): undefined at zero weights, refused as bad input by name."""
    model = sp.Committee(2, 2, bn="exact")
    Z = np.zeros((2, 2))
    with pytest.raises(ValueError, match=r"^start\.Q: batch norm needs Q_ii > 0"):
        sp.integrate(model, 1.0, 5.0, start=(Z, Z))
    with pytest.raises(ValueError, match=r"start\.Q: batch norm needs Q_ii > 0"):
        sp.escape_time(model, 1000, 1.0, start=(Z, Z), samples=2)


@pytest.mark.slow
def test_sde_and_escape_time_from_zero_weights_run():
    """``simulate(init=(0, 0), method="sde")`` raised a raw LinAlgError and ``escape-time`` from zero
    "Array must not contain infs or NaNs" (the NaN rates). Now both run. At zero weights every student has
    the same field (0) and so the same update in every example: SGD keeps the students identical forever,
    and so does the SDE, whose noise is drawn from those per-example updates (docs/model.md §12.1):
    ``Q_11 = Q_22 = Q_12`` and ``R_1n = R_2n`` to rounding (1e-14 relative) after 400 steps. Only rounding
    breaks that symmetry, and it grows at the plateau's escape rate (0.066 per unit alpha), so nothing
    escapes by alpha = 50 and escape-time says so: status failed, never a number reported as success.
    (The Gaussian scheme before put noise of ~1e-9 into the asymmetric directions through the clipped
    eigen-decomposition of a singular ``D``, and reported an escape near 240.)"""
    from symphase import _fluctuations as fl
    from symphase._rng import rng_state
    model = sp.Committee(2, 2)
    Z = np.zeros((2, 2))
    y = model.system.state(Z, Z)
    c = fl.SDEConsts(N=10**4, b=1, has_gain=False, dalpha=0.05, blowup=1e6, psd_tol=1e-7, examples=fl.SDE_EXAMPLES)
    assert fl.sde_example_steps(y, model.system.args(1.0), rng_state(0), 400, c, fl.sde_example_workspace(model)) == 400
    Q, R, _ = model.layout.unpack(y)
    assert Q[0, 0] > 0 and np.allclose([Q[1, 1], Q[0, 1]], Q[0, 0], rtol=1e-14, atol=0)
    assert np.allclose(R[0], R[1], rtol=1e-14, atol=0)
    e = sp.escape_time(model, 10**4, 1.0, start=(Z, Z), samples=4, seed=0, alpha_max=50.0)
    assert e.status == "failed" and np.all(np.isnan(e.samples)), e.message
    assert "0 of 4 samples escaped" in e.message
