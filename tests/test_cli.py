"""The command line: ``symphase ode`` prints, saves and speaks JSON."""
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import symphase as sp
import symphase.cli.ode as cli_ode
import symphase.cli.simulate as cli_simulate
from symphase._initial import random_initial
from symphase._io import check_writable
from symphase.cli import common, main


def test_ode_json_matches_api(capsys):
    assert main(["ode", "--K", "2", "--eta", "0.5", "--alpha-max", "20", "--points", "5", "--seed", "7",
                 "--N", "300", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    model = sp.Committee(2, 2)
    Q0, R0, _, _ = random_initial(model, 300, 7)
    res = sp.integrate(model, 0.5, 20.0, start=(Q0, R0), alphas=sp.default_alphas(20.0, 4))
    np.testing.assert_allclose(out["eg"], res.eg, rtol=0, atol=0)
    assert out["status"] == "completed"


def test_ode_same_seed_same_numbers_different_seed_different(capsys):
    runs = []
    for seed in ("1", "1", "2"):
        main(["ode", "--alpha-max", "5", "--points", "3", "--seed", seed, "--json"])
        runs.append(json.loads(capsys.readouterr().out)["eg"])
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_ode_saves_netcdf_and_text(tmp_path, capsys):
    path = tmp_path / "curve.nc"
    assert main(["ode", "--bn", "exact", "--gain", "fixed", "--alpha-max", "5", "--out", str(path)]) == 0
    text = capsys.readouterr().out
    assert "status: completed" in text and "eg" in text
    ds = xr.load_dataset(path)
    assert ds.attrs["bn"] == "exact" and "g" in ds
    assert not list(tmp_path.glob("*.part"))


def test_ode_given_initial_condition(capsys):
    assert main(["ode", "--Q0", "0.2,0.01;0.01,0.3", "--R0", "0.01,0.02;0.0,0.01", "--alpha-max", "3",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["Q"][0] == [[0.2, 0.01], [0.01, 0.3]]


# -- regression tests: each failed on the behaviour before the fix ---------------------------------


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if a run starts: --out must be checked before any work."""
    def boom(*args, **kwargs):
        raise AssertionError("the run started before --out was checked")
    for module, name in ((cli_ode, "integrate"), (cli_simulate, "simulate"), (cli_simulate, "compare")):
        monkeypatch.setattr(module, name, boom)


def _bad_outs(tmp_path):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir.nc").mkdir()
    return [
        (tmp_path / "x.txt", "must end in .nc, .netcdf, .csv"),          # detected after the run before
        (tmp_path / "adir.nc", "is a folder"),
        (tmp_path / "afile" / "x.nc", "which is a file, not a folder"),   # below an existing file
        (tmp_path / "missing" / "x.csv", "does not exist (create it first"),  # was created silently
        (Path("/proc/x.nc"), "cannot write in the folder"),               # unwritable even for root
    ]


@pytest.mark.parametrize("command", ["ode", "simulate", "compare"])
def test_out_checked_before_any_work(command, tmp_path, capsys, no_work):
    for path, words in _bad_outs(tmp_path):
        assert main([command, "--out", str(path)]) == 2, path
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("symphase: error: --out") and words in err, err
    assert not (tmp_path / "missing").exists()  # missing parent folders are not created
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir.nc", "afile"]


def test_check_writable_accepts_a_good_path_and_leaves_nothing(tmp_path):
    assert check_writable(tmp_path / "run.CSV", "--out") == tmp_path / "run.CSV"
    assert list(tmp_path.iterdir()) == []  # the writability probe is removed


def test_ode_csv_is_tidy(tmp_path, capsys):
    path = tmp_path / "curve.csv"
    assert main(["ode", "--bn", "exact", "--alpha-max", "5", "--points", "4", "--out", str(path)]) == 0
    df = pd.read_csv(path)
    assert list(df.columns) == ["alpha", "eg", "Q_00", "Q_01", "Q_11", "R_00", "R_01", "R_10", "R_11", "g_0", "g_1",
                                "status"]
    assert len(df) == 4 and set(df["status"]) == {"completed"}
    assert "# saved" in capsys.readouterr().out


def test_simulate_csv_works(tmp_path, capsys):
    """``simulate --out x.csv`` always failed after the run (and threw the result away)."""
    path = tmp_path / "sim.csv"
    assert main(["simulate", "--N", "100", "--alpha-max", "100", "--seeds", "2", "--points", "3", "--workers", "1",
                 "--out", str(path)]) == 0
    df = pd.read_csv(path)
    assert list(df.columns[:3]) == ["seed", "alpha", "eg"] and df.columns[-1] == "status"
    assert len(df) == 2 * 3 and sorted(set(df["seed"])) == [0, 1]
    res = sp.simulate(sp.Committee(2, 2), 100, common.ETA_DEFAULT, 100.0, seeds=2, alphas=sp.default_alphas(100.0, 2),
                      workers=1)
    np.testing.assert_array_equal(df["eg"].to_numpy(), res.eg.ravel())  # exact: CSV keeps 17 digits


def test_compare_csv_has_both_curves(tmp_path, capsys):
    path = tmp_path / "cmp.csv"
    assert main(["compare", "--N", "100", "--alpha-max", "100", "--seeds", "2", "--points", "3", "--workers", "1",
                 "--out", str(path)]) in (0, 1)
    df = pd.read_csv(path)
    assert list(df.columns[:4]) == ["seed", "alpha", "eg_sim", "eg_ode"]
    assert {"Q_00_ode", "R_00_ode", "status_sim", "status_ode"} <= set(df.columns) and len(df) == 6


def test_simulate_netcdf_still_saves(tmp_path, capsys):
    path = tmp_path / "sim.nc"
    assert main(["simulate", "--N", "50", "--alpha-max", "1", "--seeds", "1", "--points", "2", "--out",
                 str(path)]) == 0
    assert xr.load_dataset(path).attrs["status"] == "completed"


def test_long_simulation_warns_and_huge_one_is_refused(capsys):
    model = sp.Committee(2, 2)
    common.check_simulation_cost(model, 1000, 4, 2, 100.0)
    assert capsys.readouterr().err == ""
    common.check_simulation_cost(model, 100_000, 4, 2, 100.0)  # 4 x 1e7 steps x 6e5: hours
    err = capsys.readouterr().err
    assert err.startswith("symphase: warning: this run is about") and err.count("\n") == 1
    with pytest.raises(ValueError, match=r"^N = 1000000000000: .* more than this machine's"):
        common.check_simulation_cost(model, 10**12, 4, 2, 100.0)


def test_large_K_ode_warns_about_output_points(monkeypatch, capsys):
    """K = 50 took 108 s even for alpha_max = 0.01: each of the 301 default output points costs at least
    one adaptive step (6 right-hand sides of ~44 ms each). The CLI now says so, before the run."""
    common.warn_ode_cost(sp.Committee(2, 2), 301)
    assert capsys.readouterr().err == ""  # small K: no timing, no warning
    monkeypatch.setattr(common, "ODE_WARN_S", 0.0)
    common.warn_ode_cost(sp.Committee(10, 10), 301)
    err = capsys.readouterr().err
    assert err.startswith("symphase: warning: K = 10, M = 10") and "lower --points" in err


def test_interrupted_run_exit_code_and_message(monkeypatch, tmp_path, capsys):
    """An interrupted run saves its partial result and exits 130 (was 1, and not said on stderr)."""
    real = cli_ode.integrate

    def interrupted(*args, **kwargs):
        res = real(*args, **kwargs)
        res.status, res.message = sp.Status.INTERRUPTED, "interrupted at alpha = 5"
        return res
    monkeypatch.setattr(cli_ode, "integrate", interrupted)
    path = tmp_path / "part.csv"
    assert main(["ode", "--alpha-max", "5", "--points", "3", "--out", str(path)]) == 130
    captured = capsys.readouterr()
    assert "symphase: interrupted: interrupted at alpha = 5; the partial result is saved in" in captured.err
    assert "partial: interrupted" in captured.out
    assert set(pd.read_csv(path)["status"]) == {"interrupted"}
    assert os.listdir(tmp_path) == ["part.csv"]


def test_reproduce_out_folder_checked_before_any_work(tmp_path, capsys, monkeypatch):
    """A file in the way used to fail after start-up with an OSError; now one line, exit 2, no work."""
    import symphase.cli.reproduce as cli_reproduce

    def boom(*args, **kwargs):
        raise AssertionError("reproduce started before --out was checked")
    monkeypatch.setattr(cli_reproduce, "reproduce", boom)
    (tmp_path / "afile").write_text("x")
    for path, words in ((tmp_path / "afile", "is a file, not a folder"),
                        (tmp_path / "afile" / "figs", "which is a file, not a folder"),
                        (Path("/proc/figs"), "cannot write in the folder")):
        assert main(["reproduce", "--out", str(path), "--quick"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("symphase: error: --out") and words in err, err


def test_output_into_a_closed_pipe_exits_quietly_with_141():
    """`symphase ode --json | head -c 10`: the writer gets EPIPE; it must stop quietly with 141 (the shell's
    code for SIGPIPE), not report a failure (BrokenPipeError is an OSError: the order of the handlers matters)."""
    import subprocess
    import sys
    p = subprocess.Popen([sys.executable, "-m", "symphase", "ode", "--alpha-max", "5", "--points", "4000", "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.read(10)
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 141, err
    assert "failed" not in err and "Traceback" not in err
