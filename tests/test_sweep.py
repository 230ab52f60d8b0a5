"""Sweeps: same numbers as the API point by point, Dask cluster, kill-and-resume, bad configs."""
import json
from pathlib import Path

import numpy as np
import pytest

import symphase as sp
from symphase.cli import main
from symphase._initial import random_initial
from symphase._sweep import TASKS, Task, check_sweep, load_config, sweep

GRID = {"eta": [0.3, 0.8], "bn": ["plain", "exact"]}
FIXED = {"alpha_max": 40.0, "points": 21, "N": 200, "seed": 3}


def api_curve(eta, bn):
    model = sp.Committee(2, 2, bn=bn)
    Q0, R0, g0 = random_initial(model, 200, 3)
    alphas = sp.default_alphas(40.0, 20)
    return sp.integrate(model, Q0, R0, eta, 40.0, g0=g0, alphas=alphas, eg_tol=0).eg


def check_against_api(ds):
    assert ds["eg"].dims == ("eta", "bn", "alpha")
    for eta in GRID["eta"]:
        for bn in GRID["bn"]:
            np.testing.assert_array_equal(ds["eg"].sel(eta=eta, bn=bn).values, api_curve(eta, bn))
    assert (ds["status"].values == "completed").all()


def test_small_sweep_equals_point_by_point_api(tmp_path):
    ds = sweep("ode", GRID, fixed=FIXED, store=tmp_path, scheduler="sync")
    check_against_api(ds)
    assert (tmp_path / "sweep.nc").exists()
    assert len(list((tmp_path / "points").glob("*.json"))) == 4


def test_local_processes_scheduler_same_numbers(tmp_path):
    ds = sweep("ode", GRID, fixed=FIXED, store=tmp_path, workers=2)
    check_against_api(ds)


def test_distributed_local_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        ds = sweep("ode", GRID, fixed=FIXED, store=tmp_path, scheduler=cluster.scheduler_address)
    check_against_api(ds)


_CALLS = []
_DIE_AT = []  # [n]: the n-th call dies (whichever point the scheduler runs n-th)


def _counting_run(point):
    """The ode task, logging its calls; dies like a killed worker at call number _DIE_AT[0]."""
    _CALLS.append((point["eta"], point["bn"]))
    if _DIE_AT and len(_CALLS) == _DIE_AT[0]:
        raise KeyboardInterrupt("killed")
    return TASKS["ode"].run(point)


COUNTING = Task("ode", TASKS["ode"].params, TASKS["ode"].defaults, TASKS["ode"].outputs, _counting_run)
ALL_POINTS = {(e, b) for e in GRID["eta"] for b in GRID["bn"]}


def test_kill_and_resume(tmp_path):
    _CALLS.clear()
    _DIE_AT[:] = [3]  # two points finish, the third is killed mid-way
    try:
        with pytest.raises(KeyboardInterrupt):
            sweep(COUNTING, GRID, fixed=FIXED, store=tmp_path, scheduler="sync")
    finally:
        _DIE_AT.clear()
    finished = set(_CALLS[:2])
    assert len(finished) == 2 and len(_CALLS) == 3
    assert len(list((tmp_path / "points").glob("*.json"))) == len(finished)
    assert not list((tmp_path / "points").glob("*.part"))  # no half-written point
    _CALLS.clear()
    ds = sweep(COUNTING, GRID, fixed=FIXED, store=tmp_path, scheduler="sync")
    # the restart computes exactly the points that were not finished, each once
    assert sorted(_CALLS) == sorted(ALL_POINTS - finished)
    assert len(list((tmp_path / "points").glob("*.json"))) == 4
    check_against_api(ds)


def test_resume_recomputes_only_missing_points(tmp_path):
    _CALLS.clear()
    t = COUNTING
    sweep(t, {"eta": [0.3]}, fixed=FIXED, store=tmp_path, scheduler="sync")
    assert _CALLS == [(0.3, "plain")]
    _CALLS.clear()
    ds = sweep(t, {"eta": [0.3, 0.8]}, fixed=FIXED, store=tmp_path, scheduler="sync")
    assert _CALLS == [(0.8, "plain")]  # 0.3 was already done
    assert len(list((tmp_path / "points").glob("*.json"))) == 2
    np.testing.assert_array_equal(ds["eg"].sel(eta=0.3).values, api_curve(0.3, "plain"))


def test_failed_point_recorded_and_sweep_goes_on(tmp_path):
    ds = sweep("ode", {"eta": [0.5, 60.0]}, fixed={**FIXED, "alpha_max": 400.0}, store=tmp_path,
               scheduler="sync")
    st = ds["status"].values
    assert st[0] == "completed" and st[1] in ("diverged", "invalid", "completed")
    assert np.isfinite(ds["eg"].values[0]).all()
    # a failed point is a result: a status and message, never silent NaN
    if st[1] != "completed":
        assert "eta" in ds["message"].values[1]


@pytest.mark.parametrize("grid, fixed, key", [
    ({"etaa": [0.1]}, {}, "etaa"), ({"eta": []}, {}, "eta"), ({"eta": ["fast"]}, {}, "eta"),
    ({"K": [2.5]}, {}, "K"), ({"bn": ["sometimes"]}, {}, "bn"), ({"eta": [0.1]}, {"eta": 0.2}, "eta"),
    ({"eta": [0.1]}, {"colour": 1}, "colour"), ({"tau": [-1.0]}, {}, "tau"), ({"eta": 0.1}, {}, "eta"),
])
def test_bad_config_rejected_before_running(grid, fixed, key):
    with pytest.raises(ValueError, match=rf"^{key}\b"):
        check_sweep("ode", grid, fixed)


def test_unknown_task():
    with pytest.raises(ValueError, match="^task"):
        check_sweep("dance", {"eta": [0.1]})


def test_cli_sweep_and_bad_config(tmp_path, capsys):
    cfg = tmp_path / "s.toml"
    cfg.write_text('task = "ode"\n[grid]\neta = [0.3, 0.8]\n[fixed]\nalpha_max = 40.0\npoints = 21\nN = 200\n'
                   'seed = 3\n')
    assert main(["sweep", str(cfg), "--store", str(tmp_path / "st"), "--json", "--workers", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["completed"] == 2 and Path(out["result"]).exists()
    bad = tmp_path / "bad.toml"
    bad.write_text('task = "ode"\n[grid]\nlearning_rate = [0.3]\n')
    assert main(["sweep", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "learning_rate" in err
    assert not (tmp_path / "bad.sweep").exists()  # rejected before anything ran


def test_example_config_is_valid():
    cfg = load_config(Path(__file__).resolve().parents[1] / "examples" / "plateau_sweep.toml")
    task, grid, fixed = check_sweep(cfg["task"], cfg["grid"], cfg["fixed"])
    assert set(grid) == {"eta", "K", "bn"}


def test_fixed_point_sweep_equals_api(tmp_path):
    ds = sweep("fixed_point", {"K": [2, 3], "bn": ["plain", "exact"]}, store=tmp_path, scheduler="sync")
    for K in (2, 3):
        for bn in ("plain", "exact"):
            fp = sp.symmetric_fixed_point(sp.Committee(K, K, bn=bn))
            assert ds["escape_rate"].sel(K=K, bn=bn).item() == fp.escape_rate
            assert ds["eg"].sel(K=K, bn=bn).item() == fp.eg


def test_fixed_point_sweep_records_points_without_fixed_point(tmp_path):
    # the paper's rule with a fixed gain has no symmetric fixed point: recorded, not fatal
    ds = sweep("fixed_point", {"gain": ["learned", "fixed"]}, fixed={"bn": "paper"}, store=tmp_path,
               scheduler="sync")
    assert ds["status"].sel(gain="learned").item() == "completed"
    assert ds["status"].sel(gain="fixed").item() == "error"
    assert np.isnan(ds["escape_rate"].sel(gain="fixed").item())


def test_simulate_and_compare_sweeps_equal_api(tmp_path):
    fixed = {"N": 100, "alpha_max": 5.0, "seeds": 2, "points": 11}
    ds = sweep("simulate", {"eta": [0.5, 1.0]}, fixed=fixed, store=tmp_path / "s", scheduler="sync")
    res = sp.simulate(sp.Committee(2, 2), 100, 1.0, 5.0, seeds=2, alphas=sp.default_alphas(5.0, 10), workers=1)
    got = ds["eg"].sel(eta=1.0).values
    assert set(got.tolist()) == set(res.eg.mean(0).tolist())  # records at whole steps, repeated on the grid
    np.testing.assert_array_equal(got[-1], res.eg.mean(0)[-1])
    fixed.pop("points")
    dc = sweep("compare", {"eta": [1.0]}, fixed=fixed, store=tmp_path / "c", scheduler="sync")
    cmp = sp.compare(sp.Committee(2, 2), 100, 1.0, 5.0, 2)
    assert dc["max_discrepancy_eg"].sel(eta=1.0).item() == pytest.approx(cmp.discrepancy["eg"].mean(), rel=1e-12)
