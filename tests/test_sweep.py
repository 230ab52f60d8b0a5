"""Sweeps: same numbers as the API point by point, Dask cluster, kill-and-resume, bad configs."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symphase as sp
from symphase._initial import random_initial
from symphase._sweep import TASKS, Task, check_sweep, load_config, sweep
from symphase.cli import main

GRID = {"eta": [0.3, 0.8], "bn": ["plain", "exact"]}
FIXED = {"alpha_max": 40.0, "points": 21, "N": 200, "seed": 3}


def api_curve(eta, bn):
    model = sp.Committee(2, 2, bn=bn)
    Q0, R0, g0, _ = random_initial(model, 200, 3)
    alphas = sp.default_alphas(40.0, 20)
    return sp.integrate(model, eta, 40.0, start=(Q0, R0, g0), alphas=alphas, eg_tol=0).eg


def check_against_api(ds, curves=None):
    """Every point's curve is the API's bit for bit: ``api_curve`` in this process (``curves=None``), or
    ``curves[eta][bn]`` from a fresh process (:func:`fresh_process_curves`) for a sweep whose points ran in
    other processes."""
    assert ds["eg"].dims == ("eta", "bn", "alpha")
    for eta in GRID["eta"]:
        for bn in GRID["bn"]:
            want = api_curve(eta, bn) if curves is None else curves[eta][bn]
            np.testing.assert_array_equal(ds["eg"].sel(eta=eta, bn=bn).values, want)
    assert (ds["status"].values == "completed").all()


@pytest.fixture(scope="module")
def fresh_process_curves(tmp_path_factory):
    """``api_curve`` at every grid point, computed in a fresh Python process, as the sweep's worker processes
    compute them. Not in this process: the last bits used to depend on which kernels a process compiled or
    loaded first (the fastmath copies of the right-hand side, docs/model.md §11, tests/test_bits.py), and a
    pytest-xdist worker has run other tests first (seen then: 6 of 21 points 1 ulp apart)."""
    path = tmp_path_factory.mktemp("api") / "curves.npy"
    code = ("import sys; import numpy as np; sys.path.insert(0, sys.argv[2]); import test_sweep as t; "
            "np.save(sys.argv[1], np.array([[t.api_curve(e, b) for b in t.GRID['bn']] for e in t.GRID['eta']]))")
    proc = subprocess.run([sys.executable, "-c", code, str(path), str(Path(__file__).parent)], check=False,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    curves = np.load(path)
    return {eta: {bn: curves[i, j] for j, bn in enumerate(GRID["bn"])} for i, eta in enumerate(GRID["eta"])}


def test_small_sweep_equals_point_by_point_api(tmp_path):
    ds = sweep("ode", GRID, fixed=FIXED, store=tmp_path, scheduler="sync")
    check_against_api(ds)
    assert (tmp_path / "sweep.nc").exists()
    assert len(list((tmp_path / "points").glob("*.json"))) == 4


@pytest.mark.slow
def test_local_processes_scheduler_same_numbers(tmp_path, fresh_process_curves):
    ds = sweep("ode", GRID, fixed=FIXED, store=tmp_path, workers=2)
    check_against_api(ds, fresh_process_curves)


@pytest.mark.slow
def test_distributed_local_cluster(tmp_path, fresh_process_curves):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        ds = sweep("ode", GRID, fixed=FIXED, store=tmp_path, scheduler=cluster.scheduler_address)
    check_against_api(ds, fresh_process_curves)


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
    _, grid, _ = check_sweep(cfg["task"], cfg["grid"], cfg["fixed"])
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


# ---------------------------------------------------------------------------
# Reliability: interrupted points, the store, the grid's validation, large seeds
# ---------------------------------------------------------------------------

_INTERRUPT_AT = []  # [n]: the n-th call returns "interrupted", as integrate does on Ctrl-C


def _interrupting_run(point):
    """The ode task; its call number _INTERRUPT_AT[0] returns what ``integrate`` returns on Ctrl-C."""
    _CALLS.append((point["eta"], point["bn"]))
    out = TASKS["ode"].run(point)
    if _INTERRUPT_AT and len(_CALLS) == _INTERRUPT_AT[0]:
        out["status"], out["message"] = "interrupted", "interrupted at alpha = 1; the trajectory up to there is kept"
    return out


INTERRUPTING = Task("ode", TASKS["ode"].params, TASKS["ode"].defaults, TASKS["ode"].outputs, _interrupting_run)


def _records(store):
    return {p.name: json.loads(p.read_text()) for p in (Path(store) / "points").glob("*.json")}


def test_interrupted_point_is_never_stored_as_finished(tmp_path):
    # Ctrl-C inside a point: integrate returns an "interrupted" result; the sweep must stop (not go on
    # to the next point) and must not store that point, so that a resume computes it again.
    _CALLS.clear()
    _INTERRUPT_AT[:] = [3]  # the third point computed
    try:
        with pytest.raises(KeyboardInterrupt):
            sweep(INTERRUPTING, GRID, fixed=FIXED, store=tmp_path, scheduler="sync")
    finally:
        _INTERRUPT_AT.clear()
    assert len(_CALLS) == 3  # it stopped at the interrupted point, did not go on to the fourth
    finished = set(_CALLS[:2])
    recs = _records(tmp_path)
    assert {(r["point"]["eta"], r["point"]["bn"]) for r in recs.values()} == finished  # not the interrupted one
    assert all(r["outputs"]["status"] == "completed" for r in recs.values())
    assert not list((tmp_path / "points").glob("*.part"))
    _CALLS.clear()
    ds = sweep(INTERRUPTING, GRID, fixed=FIXED, store=tmp_path, scheduler="sync")
    assert sorted(_CALLS) == sorted(ALL_POINTS - finished)  # each missing point once, the interrupted one too
    check_against_api(ds)


def test_resume_recomputes_a_point_stored_as_interrupted(tmp_path):
    # an older version stored interrupted points as finished: a resume must compute them again
    sweep("ode", GRID, fixed=FIXED, store=tmp_path, scheduler="sync")
    name, rec = min(_records(tmp_path).items())
    rec["outputs"]["status"] = "interrupted"
    rec["outputs"]["eg"] = [0.0] * len(rec["outputs"]["eg"])
    (tmp_path / "points" / name).write_text(json.dumps(rec))
    _CALLS.clear()
    with pytest.warns(UserWarning, match="interrupted"):
        ds = sweep(COUNTING, GRID, fixed=FIXED, store=tmp_path, scheduler="sync")
    assert _CALLS == [(rec["point"]["eta"], rec["point"]["bn"])]
    check_against_api(ds)


def test_truncated_point_file_is_recomputed_and_named(tmp_path):
    # a damaged point file (truncated JSON) is not finished: recomputed, and the warning names the file
    sweep("ode", GRID, fixed=FIXED, store=tmp_path, scheduler="sync")
    path = min((tmp_path / "points").glob("*.json"))
    rec = json.loads(path.read_text())
    path.write_text(path.read_text()[:40])
    _CALLS.clear()
    with pytest.warns(UserWarning, match=path.name):
        ds = sweep(COUNTING, GRID, fixed=FIXED, store=tmp_path, scheduler="sync")
    assert _CALLS == [(rec["point"]["eta"], rec["point"]["bn"])]
    check_against_api(ds)


def test_store_none_leaves_nothing_behind(tmp_path, monkeypatch):
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    res = sweep("ode", GRID, fixed=FIXED, scheduler="sync")
    check_against_api(res)
    assert res.store is None and list(tmp_path.iterdir()) == []  # the temporary store is removed
    assert "store" in repr(res) and res.to_dict()["store"] is None


def test_store_none_interrupted_keeps_the_points_and_says_where(tmp_path, monkeypatch):
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    _CALLS.clear()
    _INTERRUPT_AT[:] = [3]
    try:
        with pytest.warns(UserWarning, match="symphase-sweep-") as rec, pytest.raises(KeyboardInterrupt):
            sweep(INTERRUPTING, GRID, fixed=FIXED, scheduler="sync")
    finally:
        _INTERRUPT_AT.clear()
    (kept,) = tmp_path.iterdir()
    assert str(kept) in str(rec[0].message)  # the warning names the folder: pass it as store= to resume
    assert len(_records(kept)) == 2
    check_against_api(sweep("ode", GRID, fixed=FIXED, store=kept, scheduler="sync"))


def test_store_that_is_a_file_is_rejected(tmp_path):
    f = tmp_path / "f"
    f.write_text("")
    with pytest.raises(ValueError, match="^store"):
        sweep("ode", GRID, fixed=FIXED, store=f, scheduler="sync")
    with pytest.raises(ValueError, match="^store"):
        sweep("ode", GRID, fixed=FIXED, store=f / "sub", scheduler="sync")


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux's read-only /sys")
def test_store_in_an_unwritable_place_is_rejected():
    with pytest.raises(ValueError, match="^store"):
        sweep("ode", GRID, fixed=FIXED, store="/sys/nope", scheduler="sync")


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux's read-only /sys")
def test_cli_store_in_an_unwritable_place_is_one_line_and_exit_2(tmp_path, capsys):
    cfg = tmp_path / "s.toml"
    cfg.write_text('task = "ode"\nstore = "/sys/nope"\n[grid]\neta = [0.3]\n[fixed]\nalpha_max = 40.0\n')
    assert main(["sweep", str(cfg), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("symphase: error: store") and "/sys/nope" in err


@pytest.mark.parametrize("task, grid, fixed, key", [
    ("ode", {"eta": [0.5, math.inf]}, {}, "eta"), ("ode", {"eta": [0.5]}, {"alpha_max": math.inf}, "alpha_max"),
    ("ode", {"alpha_max": [10.0, 1e13]}, {}, "alpha_max"), ("ode", {"N": [100, -5]}, {}, "N"),
    ("ode", {"N": [1]}, {"K": 3}, "N"),  # the random start needs N >= M
    ("ode", {"seed": [0, -1]}, {}, "seed"), ("ode", {"seed": [2**63]}, {}, "seed"),
    ("ode", {"eta": [0.5]}, {"points": 0}, "points"), ("ode", {"points": [1]}, {}, "points"),
    ("ode", {"fraction": [0.5, 1.5]}, {}, "fraction"), ("simulate", {"seeds": [0]}, {}, "seeds"),
    ("simulate", {"eta": [-0.5]}, {}, "eta"), ("compare", {"N": [0]}, {}, "N"),
    ("fixed_point", {"eta": [0.0, math.inf]}, {}, "eta"), ("fixed_point", {"eta": [-0.1]}, {}, "eta"),
])
def test_whole_grid_validated_like_the_api_before_running(tmp_path, task, grid, fixed, key):
    with pytest.raises(ValueError, match=rf"^{key}\b"):
        check_sweep(task, grid, fixed)
    with pytest.raises(ValueError, match=rf"^{key}\b"):
        sweep(task, grid, fixed=fixed, store=tmp_path / "st", scheduler="sync")
    assert not (tmp_path / "st").exists()  # nothing ran, nothing was stored


def test_sweep_options_validated_before_anything_runs(tmp_path):
    with pytest.raises(ValueError, match="^workers"):
        sweep("ode", GRID, fixed=FIXED, store=tmp_path / "a", workers=0)
    with pytest.raises(ValueError, match="^scheduler"):
        sweep("ode", GRID, fixed=FIXED, store=tmp_path / "b", scheduler="quickly")
    assert list(tmp_path.iterdir()) == []


def test_cli_sweep_with_a_failed_point_exits_1_and_says_how_many(tmp_path, capsys):
    # the paper's rule with a fixed gain has no symmetric fixed point: one of the two points fails
    cfg = tmp_path / "s.toml"
    cfg.write_text('task = "fixed_point"\n[grid]\ngain = ["learned", "fixed"]\n[fixed]\nbn = "paper"\n')
    assert main(["sweep", str(cfg), "--workers", "1"]) == 1
    cap = capsys.readouterr()
    assert "1/2 points completed" in cap.out
    assert cap.err.startswith("symphase: sweep: 1 of 2 point(s) did not complete")


def test_seed_of_2_to_the_40_through_a_sweep_and_netcdf(tmp_path):
    # seeds >= 2^31 need int64, which only NetCDF4 stores (scipy's NetCDF3 writer cannot)
    from symphase._io import open_netcdf
    big = 2**40
    res = sweep("ode", {"seed": [3, big]}, fixed={k: v for k, v in FIXED.items() if k != "seed"}, store=tmp_path,
                scheduler="sync")
    assert res.success
    with open_netcdf(tmp_path / "sweep.nc") as ds:
        assert ds["seed"].dtype == np.int64 and ds["seed"].values.tolist() == [3, big]
        model = sp.Committee(2, 2)
        Q0, R0, g0, _ = random_initial(model, 200, big)
        want = sp.integrate(model, 0.5, 40.0, start=(Q0, R0, g0), alphas=sp.default_alphas(40.0, 20), eg_tol=0).eg
        np.testing.assert_array_equal(ds["eg"].sel(seed=big).values, want)  # the same numbers: exact
    fixed = {k: v for k, v in FIXED.items() if k != "eta"}
    res = sweep("ode", {"eta": [0.5]}, fixed={**fixed, "seed": big}, store=tmp_path / "f", scheduler="sync")
    with open_netcdf(tmp_path / "f" / "sweep.nc") as ds:
        assert ds.attrs["fixed_seed"] == big


def test_seed_of_2_to_the_40_simulate_to_netcdf_and_back(tmp_path):
    from symphase._io import open_netcdf, write_netcdf
    big = 2**40
    res = sp.simulate(sp.Committee(2, 2), 50, 0.5, 1.0, seeds=[big], alphas=sp.default_alphas(1.0, 5), workers=1)
    path = write_netcdf(res.to_xarray(), tmp_path / "sim.nc")
    with open_netcdf(path) as ds:
        assert ds["seed"].values.tolist() == [big]
        np.testing.assert_array_equal(ds["eg"].values, res.eg)  # exact: float64 round trip


@pytest.mark.slow
def test_cli_resume_says_which_point_file_is_computed_again(tmp_path, capsys):
    cfg = tmp_path / "s.toml"
    cfg.write_text('task = "ode"\n[grid]\neta = [0.3, 0.8]\n[fixed]\nalpha_max = 40.0\npoints = 21\nN = 200\n')
    assert main(["sweep", str(cfg), "--workers", "1"]) == 0
    path = min((tmp_path / "s.sweep" / "points").glob("*.json"))
    path.write_text("{")
    capsys.readouterr()
    assert main(["sweep", str(cfg), "--workers", "1"]) == 0
    cap = capsys.readouterr()
    assert "2/2 points completed" in cap.out
    assert cap.err.startswith("symphase: warning: store: 1 point file(s) cannot be read and are computed again: "
                              f"{path.name}") and cap.err.count("\n") == 1
    assert json.loads(path.read_text())["outputs"]["status"] == "completed"


def test_stale_point_temporaries_of_dead_writers_are_removed(tmp_path):
    """Points are written by the package's one atomic writer (``.NAME.PID.RANDOM.part``); a resume removes
    the temporaries of writers that are gone and keeps those of a live one."""
    import subprocess
    import sys

    from symphase._io import write_atomically
    from symphase._sweep_store import _remove_stale_parts
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    stale = tmp_path / f".p.json.{dead}.abc123.part"
    live = tmp_path / f".p.json.{os.getpid()}.def456.part"
    stale.write_text("{")
    live.write_text("{")
    write_atomically(tmp_path / "q.json", b"{}")
    _remove_stale_parts(tmp_path)
    assert not stale.exists() and live.exists()
    assert (tmp_path / "q.json").read_text() == "{}" and len(list(tmp_path.glob("*.part"))) == 1
