"""Bad input: a ValueError naming the parameter (API); one line and exit 2 (CLI)."""
import subprocess
import sys

import numpy as np
import pytest

import symphase as sp
from symphase.cli import main
from conftest import plateau

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
        sp.integrate(sp.Committee(2, 2), Q2, R2, *args, **kwargs)


def test_integrate_rejects_bad_states():
    m = sp.Committee(2, 2)
    with pytest.raises(ValueError, match="^Q0 must be symmetric"):
        sp.integrate(m, [[1, 0.2], [0.1, 1]], R2, 0.5, 1.0)
    with pytest.raises(ValueError, match="^Q0, R0 must form a positive semi-definite"):
        sp.integrate(m, [[1, 2], [2, 1]], R2, 0.5, 1.0)
    with pytest.raises(ValueError, match="^Q0, R0 must form a positive semi-definite"):
        sp.integrate(m, np.eye(2) * 0.1, np.eye(2), 0.5, 1.0)  # |R| too large for Q and T
    with pytest.raises(ValueError, match=r"^Q0 must have shape \(2, 2\)"):
        sp.integrate(m, np.eye(3), R2, 0.5, 1.0)
    with pytest.raises(ValueError, match=r"^R0 must have shape \(2, 2\)"):
        sp.integrate(m, Q2, np.zeros((2, 3)), 0.5, 1.0)
    with pytest.raises(ValueError, match="^Q0 must be finite"):
        sp.integrate(m, [[np.nan, 0], [0, 1]], R2, 0.5, 1.0)
    with pytest.raises(ValueError, match="^g0"):
        sp.integrate(m, Q2, R2, 0.5, 1.0, g0=[1, 1])


def test_bn_states_rejected():
    m = sp.Committee(2, 2, bn="paper")
    with pytest.raises(ValueError, match="^Q0: batch norm needs Q_ii > 0"):
        sp.integrate(m, np.diag([1.0, 0.0]), np.zeros((2, 2)), 0.5, 1.0)
    with pytest.raises(ValueError, match=r"^g0: batch-norm gains must be non-zero"):
        sp.integrate(m, np.eye(2), np.zeros((2, 2)), 0.5, 1.0, g0=[1.0, 0.0])
    with pytest.raises(ValueError, match="^g: batch-norm gains"):
        sp.generalization_error(m, np.eye(2), np.zeros((2, 2)), [0.0, 1.0])


def test_model_type_checked():
    with pytest.raises(TypeError, match="model must be a symphase.Committee"):
        sp.integrate("plain", Q2, R2, 0.5, 1.0)


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
