"""The command line: ``symphase ode`` prints, saves and speaks JSON."""
import json

import numpy as np
import xarray as xr

import symphase as sp
from symphase.cli import main
from symphase._initial import random_initial


def test_ode_json_matches_api(capsys):
    assert main(["ode", "--K", "2", "--eta", "0.5", "--alpha-max", "20", "--points", "5", "--seed", "7",
                 "--N", "300", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    model = sp.Committee(2, 2)
    Q0, R0, _ = random_initial(model, 300, 7)
    res = sp.integrate(model, Q0, R0, 0.5, 20.0, alphas=sp.default_alphas(20.0, 4))
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
