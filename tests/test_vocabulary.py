"""The API's vocabulary (docs/vocabulary.md, issue 19 item 5): one way to pass a state or a start, the
same name and default for the same thing everywhere, named records for every return, and each old
form refused in one line naming the new one."""
import inspect

import numpy as np
import pytest

import symphase as sp
from symphase.cli import build_parser, main

MODEL = sp.Committee(2, 2)
Q = np.array([[0.5, 0.05], [0.05, 0.4]])
R = np.array([[0.1, 0.02], [0.03, 0.1]])
BN = sp.Committee(2, 2, bn="exact")
G = np.array([1.2, 0.8])


# -- old forms: one TypeError line naming the new form ---------------------------------------------------

OLD_FORMS = [
    (lambda: sp.integrate(MODEL, Q, R, 0.5, 10.0), "integrate(model, eta, alpha_max, start=(Q0, R0"),
    (lambda: sp.integrate(MODEL, Q, R, eta=0.5, alpha_max=10.0), "integrate(model, eta, alpha_max, start="),
    (lambda: sp.integrate(MODEL, 0.5, 10.0, start=(Q, R), g0=None), "start=(Q0, R0[, g0[, v0]])"),
    (lambda: sp.integrate(MODEL, 0.5, 10.0, start=(Q, R), N=100), "bands_N="),
    (lambda: sp.simulate(MODEL, 20, 0.5, 1.0, init=(Q, R)), "simulate(..., start=)"),
    (lambda: sp.simulate(MODEL, 20, 0.5, 1.0, v0=[1.0, 1.0]), "start=State(Q, R, g, v)"),
    (lambda: sp.compare(MODEL, 20, 0.5, 1.0, 2, init=(Q, R)), "compare(..., start=)"),
    (lambda: sp.rhs(MODEL, Q, R, None, 0.5), "rhs(model, (Q, R[, g[, v]]), eta, ...)"),
    (lambda: sp.rhs(MODEL, Q, R, eta=0.5), "rhs(model, (Q, R[, g[, v]]), eta, ...)"),
    (lambda: sp.rhs(MODEL, (Q, R), 0.5, v=[1.0, 1.0]), "rhs(model, (Q, R[, g[, v]]), eta, ...)"),
    (lambda: sp.generalization_error(MODEL, Q, R), "generalization_error(model, (Q, R[, g[, v]]), ...)"),
    (lambda: sp.curvature(MODEL, Q, R, N=10), "curvature(model, (Q, R[, g[, v]]), ...)"),
    (lambda: sp.diffusion_matrix(MODEL, Q, R, eta=0.5), "diffusion_matrix(model, (Q, R[, g[, v]]), eta, ...)"),
    (lambda: sp.random_weights(MODEL, 10, exact_T=False), "random_weights(..., exact_teacher=)"),
    (lambda: sp.weights_from_overlaps(MODEL, 10, Q, R, 0), "weights_from_overlaps(model, (Q, R), N, seed)"),
]


@pytest.mark.parametrize("call, new", OLD_FORMS, ids=[f"old{j}" for j in range(len(OLD_FORMS))])
def test_an_old_form_fails_in_one_line_naming_the_new_form(call, new):
    with pytest.raises(TypeError) as e:
        call()
    msg = str(e.value)
    assert new in msg and "\n" not in msg, msg


def test_the_cli_s_old_band_options_name_the_new_ones(capsys):
    for old, new in (("--fluct-N", "--bands-N"), ("--fluct-start", "--bands-start")):
        assert main(["ode", "--alpha-max", "2", "--points", "3", old, "100"]) == 2
        err = capsys.readouterr().err
        assert f"{old} is now {new}" in err and err.count("\n") == 1, err


# -- one way to pass a state -----------------------------------------------------------------------------

def test_a_start_is_a_state_a_tuple_or_a_fixed_point_with_the_same_numbers():
    """State, tuple and FixedPoint name the same start: the trajectories are bit-identical."""
    kw = {"alphas": [0.0, 1.0, 5.0]}
    a = sp.integrate(BN, 0.5, 5.0, start=sp.State(Q, R, G), **kw)
    b = sp.integrate(BN, 0.5, 5.0, start=(Q, R, G), **kw)
    c = sp.integrate(BN, 0.5, 5.0, start=[Q, R, G], **kw)
    for r in (b, c):
        assert np.array_equal(a.eg, r.eg) and np.array_equal(a.Q, r.Q) and np.array_equal(a.g, r.g)
    fp = sp.symmetric_fixed_point(sp.Committee(2, 2))
    d = sp.integrate(fp.model, 0.5, 5.0, start=fp, **kw)
    e = sp.integrate(fp.model, 0.5, 5.0, start=(fp.Q, fp.R, fp.g), **kw)
    assert np.array_equal(d.eg, e.eg)
    # one-state functions take the same forms
    assert sp.generalization_error(BN, sp.State(Q, R, G)) == sp.generalization_error(BN, (Q, R, G))
    assert sp.curvature(fp.model, fp, N=20).stats("fisher") == sp.curvature(fp.model, (fp.Q, fp.R), N=20).stats(
        "fisher")
    assert np.array_equal(sp.diffusion_matrix(BN, sp.State(Q, R, G), 0.3, part="linear").D,
                          sp.diffusion_matrix(BN, (Q, R, G), 0.3, part="linear").D)


def test_a_state_s_parts_are_named_in_errors():
    with pytest.raises(ValueError, match=r"^start\.Q must be symmetric"):
        sp.integrate(MODEL, 0.5, 1.0, start=(np.array([[1.0, 0.2], [0.1, 1.0]]), R))
    with pytest.raises(ValueError, match=r"^state\.g is only meaningful"):
        sp.rhs(MODEL, (Q, R, G), 0.5)
    with pytest.raises(ValueError, match=r"^state\.v: the committee machine's second layer is fixed at ones"):
        sp.curvature(MODEL, (Q, R, None, [1.0, 0.5]), N=10)
    with pytest.raises(TypeError, match=r"^start must be a State, a tuple"):
        sp.integrate(MODEL, 0.5, 1.0, start=Q)
    with pytest.raises(TypeError, match=r"not a trajectory"):
        sp.rhs(MODEL, sp.integrate(MODEL, 0.5, 1.0, start=(Q, R)), 0.5)
    with pytest.raises(ValueError, match=r"^start must be 'random'"):
        sp.simulate(MODEL, 20, 0.5, 1.0, start="zeros")
    with pytest.raises(ValueError, match=r"^start: the fixed point belongs to another model"):
        sp.integrate(sp.Committee(3, 3), 0.5, 1.0, start=sp.symmetric_fixed_point(MODEL))


def test_simulate_s_fixed_point_start_is_near_fixed_point_per_seed_as_escape_time():
    """``simulate(start=fp)`` draws each seed's start as ``near_fixed_point(fp, N, seed)``: bit-identical
    to giving that function as the start."""
    fp = sp.symmetric_fixed_point(MODEL)
    kw = {"seeds": [3, 4], "alphas": [0.0, 1.0], "method": "overlaps", "workers": 1}
    a = sp.simulate(MODEL, 40, 0.5, 1.0, start=fp, **kw)
    b = sp.simulate(MODEL, 40, 0.5, 1.0, start=lambda sd: sp.near_fixed_point(fp, 40, sd), **kw)
    assert np.array_equal(a.eg, b.eg) and np.array_equal(a.initial["Q"], b.initial["Q"])
    assert not np.array_equal(a.initial["Q"][0], a.initial["Q"][1])


def test_the_second_layer_is_part_of_the_start():
    two = sp.Committee(2, 2, second_layer="learned")
    sim = sp.simulate(two, 30, 0.5, 1.0, seeds=2, alphas=[0.0, 1.0], start={"v": [0.3, 0.9]}, workers=1)
    assert np.array_equal(sim.v[:, 0], [[0.3, 0.9], [0.3, 0.9]])
    ode = sp.integrate(two, 0.5, 1.0, start=sp.State(Q, R, v=[0.3, 0.9]), alphas=[0.0, 1.0])
    assert np.array_equal(ode.v[0], [0.3, 0.9])
    with pytest.raises(ValueError, match="the same for every seed"):
        sp.simulate(two, 30, 0.5, 1.0, seeds=2, start=lambda sd: sp.State(Q, R, v=[1.0, 1.0 + sd]))


# -- named records ---------------------------------------------------------------------------------------

def test_one_state_functions_return_named_records():
    rates = sp.rhs(BN, (Q, R, G), 0.5)
    assert isinstance(rates, sp.Rates) and rates.dQ.shape == (2, 2) and rates.dg.shape == (2,) and rates.dv is None
    two = sp.rhs(sp.Committee(2, 2, second_layer="learned"), (Q, R), 0.5)
    assert two.dg is None and two.dv.shape == (2,)
    red = sp.reduced_rhs(sp.Committee(3, 3), 0.3, 0.1, 0.2, 0.05)
    assert isinstance(red, sp.ReducedRates) and red.g is None and red.v is None
    assert red.values() == [red.Q, red.C, red.R, red.S] and [k for k, _ in red.items()] == ["Q", "C", "R", "S"]
    D = sp.diffusion_matrix(MODEL, (Q, R), 0.5, part="linear")
    assert isinstance(D, sp.Diffusion) and D.D.shape == (7, 7) and D.labels == tuple(MODEL.layout.labels())
    assert D.part == "linear"
    start = sp.random_initial(BN, 50, 0)
    assert isinstance(start, sp.State) and start.g.tolist() == [1.0, 1.0] and start.v is None
    assert isinstance(sp.near_fixed_point(sp.symmetric_fixed_point(MODEL), 50, 0), sp.State)
    three = sp.Committee(3, 3)
    p = sp.paper_fixed_point(three)
    assert isinstance(p, sp.SymmetricState) and max(abs(r) for r in sp.reduced_rhs(three, *p).values()) < 1e-15
    H = sp.reduced_hessian(three, p.R, p.S, p.Q)
    assert isinstance(H, sp.ReducedDerivative) and H.names == ("R", "S", "Q") and H.value.shape == (3, 3)
    w = sp.random_weights(MODEL, 20, 0)
    assert isinstance(w, sp.Weights) and w.J.shape == (2, 20)
    o = sp.overlaps(*w)
    assert isinstance(o, sp.Overlaps) and np.allclose(o.Q, w.J @ w.J.T)
    w2 = sp.weights_from_overlaps(MODEL, start, 20, 0)
    assert isinstance(w2, sp.Weights) and np.allclose(w2.J @ w2.J.T, start.Q)


# -- one name and one default for one thing --------------------------------------------------------------

def _params(f):
    return inspect.signature(f).parameters


def test_eta_is_positional_everywhere_and_defaults_only_at_the_small_learning_rate_limit():
    for f in (sp.integrate, sp.simulate, sp.compare, sp.escape_time, sp.rhs, sp.diffusion_matrix,
              sp.symmetric_fixed_point, sp.reduced_rhs):
        p = _params(f)["eta"]
        assert p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, f.__name__
        want = 0.0 if f in (sp.symmetric_fixed_point, sp.reduced_rhs) else inspect.Parameter.empty
        assert p.default == want, f.__name__


def test_a_start_is_start_and_a_state_follows_the_model():
    for f in (sp.integrate, sp.simulate, sp.compare, sp.escape_time):
        p = _params(f)["start"]
        assert p.kind is inspect.Parameter.KEYWORD_ONLY, f.__name__
        assert p.default == (inspect.Parameter.empty if f is sp.integrate else "random"), f.__name__
    for f in (sp.rhs, sp.generalization_error, sp.curvature, sp.diffusion_matrix):
        assert list(_params(f))[:2] == ["model", "state"], f.__name__
    for f in (sp.integrate, sp.simulate, sp.compare, sp.random_weights):
        assert "init" not in _params(f) and "exact_T" not in _params(f) and "v0" not in _params(f)
    assert "exact_teacher" in _params(sp.random_weights) and "bands_N" in _params(sp.integrate)
    assert "N" not in _params(sp.integrate)


def test_the_ode_s_tolerances_are_one_pair():
    ode, cmp = _params(sp.integrate), _params(sp.compare)
    assert (ode["rtol"].default, ode["atol"].default) == (cmp["rtol"].default, cmp["atol"].default) == (1e-8, 1e-10)
    args = build_parser().parse_args(["ode"])
    assert (args.rtol, args.atol) == (1e-8, 1e-10)


def test_the_cli_s_eta_has_one_default():
    parser = build_parser()
    etas = {cmd: parser.parse_args([cmd]).eta for cmd in ("ode", "simulate", "compare", "escape-time")}
    assert set(etas.values()) == {0.5}, etas
    assert parser.parse_args(["fixed-point"]).eta == 0.0  # the small learning rate limit
