"""Bad input: a ValueError naming the parameter (API); one line and exit 2 (CLI)."""
import subprocess
import sys
import warnings

import numpy as np
import pytest
from conftest import plateau

import symphase as sp
from symphase.cli import main

Q2, R2 = plateau(2)


@pytest.mark.parametrize("kwargs, name", [
    (dict(K=0, M=2), "K"), (dict(K=2.5, M=2), "K"), (dict(K="2", M=2), "K"), (dict(K=2, M=0), "M"),
    (dict(K=2, M=2, tau=0.0), "tau"), (dict(K=2, M=2, tau=-1), "tau"), (dict(K=2, M=2, tau=float("nan")), "tau"),
    (dict(K=2, M=2, batch=0), "batch"), (dict(K=2, M=2, batch=1.5), "batch"),
    (dict(K=2, M=2, noise=-0.1), "noise"), (dict(K=2, M=2, bn="yes"), "bn"),
    (dict(K=2, M=2, gain="sometimes"), "gain"), (dict(K=2, M=2, T=np.eye(3)), "T"),
    (dict(K=2, M=2, T=[[1, 0.5], [0, 1]]), "T"),
])
def test_committee_rejects(kwargs, name):
    K, M = kwargs.pop("K"), kwargs.pop("M")
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        sp.Committee(K, M, **kwargs)


@pytest.mark.parametrize("args, kwargs, name", [
    ((0.0, 10.0), {}, "eta"), ((-1.0, 10.0), {}, "eta"), ((float("inf"), 10.0), {}, "eta"),
    ((0.5, 0.0), {}, "alpha_max"), ((0.5, -3.0), {}, "alpha_max"),
    ((0.5, 10.0), dict(alphas=[0, 2, 1]), "alphas"), ((0.5, 10.0), dict(alphas=[0, 20]), "alphas"),
    ((0.5, 10.0), dict(method="euler"), "method"), ((0.5, 10.0), dict(method="rk4", dt=0), "dt"),
    ((0.5, 10.0), dict(rtol=0), "rtol"),
])
def test_integrate_rejects(args, kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        sp.integrate(sp.Committee(2, 2), *args, start=(Q2, R2), **kwargs)


def test_integrate_rejects_bad_states():
    m = sp.Committee(2, 2)
    with pytest.raises(ValueError, match=r"^start\.Q must be symmetric"):
        sp.integrate(m, 0.5, 1.0, start=([[1, 0.2], [0.1, 1]], R2))
    with pytest.raises(ValueError, match=r"^start\.Q, start\.R must form a positive semi-definite"):
        sp.integrate(m, 0.5, 1.0, start=([[1, 2], [2, 1]], R2))
    with pytest.raises(ValueError, match=r"^start\.Q, start\.R must form a positive semi-definite"):
        sp.integrate(m, 0.5, 1.0, start=(np.eye(2) * 0.1, np.eye(2)))  # |R| too large for Q and T
    with pytest.raises(ValueError, match=r"^start\.Q must have shape \(2, 2\)"):
        sp.integrate(m, 0.5, 1.0, start=(np.eye(3), R2))
    with pytest.raises(ValueError, match=r"^start\.R must have shape \(2, 2\)"):
        sp.integrate(m, 0.5, 1.0, start=(Q2, np.zeros((2, 3))))
    with pytest.raises(ValueError, match=r"^start\.Q must be finite"):
        sp.integrate(m, 0.5, 1.0, start=([[np.nan, 0], [0, 1]], R2))
    with pytest.raises(ValueError, match=r"^start\.g"):
        sp.integrate(m, 0.5, 1.0, start=(Q2, R2, [1, 1]))


def test_bn_states_rejected():
    m = sp.Committee(2, 2, bn="paper")
    with pytest.raises(ValueError, match=r"^start\.Q: batch norm needs Q_ii > 0"):
        sp.integrate(m, 0.5, 1.0, start=(np.diag([1.0, 0.0]), np.zeros((2, 2))))
    with pytest.raises(ValueError, match=r"^start\.g: batch-norm gains must be non-zero"):
        sp.integrate(m, 0.5, 1.0, start=(np.eye(2), np.zeros((2, 2)), [1.0, 0.0]))
    with pytest.raises(ValueError, match=r"^state\.g: batch-norm gains"):
        sp.generalization_error(m, (np.eye(2), np.zeros((2, 2)), [0.0, 1.0]))


def test_model_type_checked():
    with pytest.raises(TypeError, match="model must be a symphase.Committee"):
        sp.integrate("plain", 0.5, 1.0, start=(Q2, R2))


@pytest.mark.parametrize("argv, word", [
    (["ode", "--K", "0"], "K"), (["ode", "--eta", "-1"], "eta"), (["ode", "--tau", "0"], "tau"),
    (["ode", "--batch", "0"], "batch"), (["ode", "--alpha-max", "0"], "alpha_max"),
    (["ode", "--K", "two"], "--K"), (["ode", "--bn", "maybe"], "--bn"), (["nonsense"], "COMMAND"),
    (["ode", "--Q0", "1,0;0,x", "--R0", "0,0;0,0"], "Q0"),
])
def test_cli_bad_input_one_line_exit_2(argv, word, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("symphase: error:") and word in err
    assert "Traceback" not in err


def test_cli_module_entry_point_exit_code():
    proc = subprocess.run([sys.executable, "-m", "symphase", "ode", "--eta", "0"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("symphase: error: eta") and "Traceback" not in proc.stderr


# -- regression tests: each failed on the behaviour before the fix ---------------------------------

@pytest.mark.parametrize("kwargs, name", [
    # NaN used to turn the checks off; a negative blowup gave a nonsense "diverged" message
    (dict(max_steps=float("nan")), "max_steps"), (dict(max_steps=0), "max_steps"), (dict(max_steps=1.5), "max_steps"),
    (dict(blowup=-1.0), "blowup"), (dict(blowup=float("nan")), "blowup"), (dict(blowup=float("inf")), "blowup"),
    (dict(psd_tol=float("nan")), "psd_tol"), (dict(psd_tol=-1e-7), "psd_tol"),
    (dict(eg_tol=float("nan")), "eg_tol"), (dict(atol=float("nan")), "atol"),
    (dict(alphas=[[0.0, 1.0], [2.0, 3.0]]), "alphas"),  # 2-d grids were flattened
    (dict(alphas=[0.0, 1.0 + 1j]), "alphas"),
    (dict(method="rk4", dt=5e-324), "dt"),  # was an OverflowError (ceil of inf steps)
])
def test_integrate_rejects_numerics(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        sp.integrate(sp.Committee(2, 2), 0.5, 10.0, start=(Q2, R2), **kwargs)


def test_complex_Q0_rejected_not_truncated():
    """It used to warn (ComplexWarning) and drop the imaginary part."""
    with pytest.raises(ValueError, match=r"^start\.Q must be a real array"):
        sp.integrate(sp.Committee(2, 2), 0.5, 1.0, start=(Q2 + 1e-3j, R2))


@pytest.mark.parametrize("Q0, alpha_max, name", [(Q2 * 1e200, 10.0, "start"), (Q2, 1e300, "alpha_max"),
                                                  (Q2, float("inf"), "alpha_max")])
def test_huge_inputs_fail_at_once(Q0, alpha_max, name):
    """These burned the whole step budget (73 s) before; now a ValueError before any step."""
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        sp.integrate(sp.Committee(2, 2), 0.5, alpha_max, start=(Q0, R2))


def test_bn_huge_gain_rejected_naming_start_g():
    """g0 = [1e200, 1]: the effective overlaps overflow; it used to give a result with 0 points whose
    message blamed eta (and whose repr raised IndexError)."""
    with pytest.raises(ValueError, match=r"^start\.g\b"):
        sp.integrate(sp.Committee(2, 2, bn="exact"), 0.5, 10.0, start=(np.eye(2), np.zeros((2, 2)), [1e200, 1.0]))


@pytest.mark.slow
def test_grid_ending_before_alpha_max_says_where_it_stopped():
    res = sp.integrate(sp.Committee(2, 2), 0.5, 10.0, start=(Q2, R2), alphas=[0.0, 1.0, 2.0])
    assert res.status == "completed" and res.alpha[-1] == 2.0
    assert res.message == "reached alpha = 2, the last output point"  # was "reached alpha_max = 10"


@pytest.mark.parametrize("kwargs, name", [(dict(seed=-1), "seed"), (dict(seed=1.5), "seed"),
                                          (dict(seed=True), "seed"), (dict(scale=1e200), "scale"),
                                          (dict(scale=0.0), "scale"), (dict(scale=float("nan")), "scale")])
def test_random_initial_names_bad_seed_and_scale(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        sp.random_initial(sp.Committee(2, 2), N=100, **kwargs)


def test_results_with_zero_points_have_a_repr_and_a_dict():
    """A result that holds nothing (a run that failed before its first point) prints in one line;
    repr used to raise IndexError (alpha[0] of an empty array)."""
    model = sp.Committee(2, 2, bn="exact")
    res = sp.ODEResult(model=model, eta=0.5, alpha=np.empty(0), Q=np.empty((0, 2, 2)), R=np.empty((0, 2, 2)),
                       g=np.empty((0, 2)), eg=np.empty(0), status=sp.Status.INVALID, message="nothing")
    text = repr(res)
    assert text.startswith("ODEResult(") and "n=0" in text and "\n" not in text
    assert res.to_dict()["alpha"] == []
    sim = sp.SimulationResult(model=model, eta=0.5, alpha=np.empty(0), Q=np.empty((1, 0, 2, 2)),
                              R=np.empty((1, 0, 2, 2)), g=np.empty((1, 0, 2)), eg=np.empty((1, 0)),
                              status=sp.Status.INTERRUPTED, message="nothing", N=10, seeds=np.array([0]),
                              seed_status=["interrupted"], n_recorded=np.zeros(1, dtype=int))
    text = repr(sim)
    assert text.startswith("SimulationResult(") and "n=0" in text and "\n" not in text
    assert len(sim.to_dataframe()) == 0


def test_bn_fixed_point_to_dict_is_json():
    """``to_dict()`` of a BN fixed point failed (OverflowError, NaN); now plain JSON values."""
    import json
    fp = sp.symmetric_fixed_point(sp.Committee(2, 2, bn="exact"), 0.0)
    text = json.dumps(fp.to_dict(), allow_nan=False)
    assert '"status"' in text


def test_simulate_rejects_teacher_weights_that_do_not_realise_T():
    """B B^T != T with exact_teacher: it used to run and return "completed" with NaN eps_g."""
    model = sp.Committee(2, 2)
    N = 50
    rng = np.random.default_rng(0)
    J, B = rng.standard_normal((2, N)) / np.sqrt(N), rng.standard_normal((2, N)) / np.sqrt(N)
    with pytest.raises(ValueError, match=r"^start: 'B' must realise the model's teacher overlaps"):
        sp.simulate(model, N, 0.5, 1.0, start={"J": J, "B": B})
    res = sp.simulate(model, N, 0.5, 1.0, start={"J": J, "B": B}, exact_teacher=False)  # as it is: fine
    assert res.status == "completed" and np.all(np.isfinite(res.eg))


@pytest.mark.parametrize("argv, word", [
    (["ode", "--bn", "exact", "--Q0", "1,0;0,1", "--R0", "0,0;0,0", "--g0", "1e200,1"], "start.g"),
    (["fixed-point", "--bn", "exact", "--norm", "1e300"], "norm"),  # was an OverflowError traceback
    (["ode", "--seed", "-1"], "--seed"), (["ode", "--points", "0"], "--points"),
    (["simulate", "--points", "0"], "--points"), (["simulate", "--seeds", "0"], "seeds"),
    (["ode", "--alpha-max", "inf"], "alpha_max"), (["simulate", "--alpha-max", "nan"], "alpha_max"),
    (["ode", "--alpha-max", "1e300"], "alpha_max"),
    (["ode", "--N", "1000000000000"], "N = 1000000000000"),       # was a MemoryError after 25 s
    (["simulate", "--N", "1000000000000"], "N = 1000000000000"),
    (["simulate", "--N", "0"], "N"),
])
def test_cli_regressions_one_line_exit_2(argv, word, capsys):
    """One line naming the parameter, exit 2, no traceback and no numpy RuntimeWarning before it."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning (inf in geomspace) would raise here
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("symphase: error:") and word in err, err
