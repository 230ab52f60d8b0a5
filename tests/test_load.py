"""Round trip (issue 19, item 7): ``symphase.load(path)`` and ``Cls.from_xarray(ds)`` give back the result
that ``to_xarray().to_netcdf()`` or the command line's ``--out`` saved, for every result type.

"The same" is checked strictly by :func:`assert_same`: the same type and ``repr``, the same model,
``status`` and ``message``, and every attribute equal, arrays bit for bit (same dtype and shape, NaN
where NaN, the other entries byte-identical), recursively through dicts, lists and nested results;
then ``to_dict()`` (every derived quantity: spectra, statistics, discrepancies, escape times) and the
re-saved dataset are identical too. No tolerance anywhere: a saved float64 must read back exactly.
"""
import dataclasses
import functools
import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import symphase as sp
from symphase._results import READERS, RESULT_ATTR, RESULT_TYPES, Result, Status
from symphase.cli import main

FIGURES = sorted((Path(__file__).parent.parent / "figures").glob("*.nc"))


# -- strict equality ----------------------------------------------------------------------------
def assert_arrays_same(a, b, where):
    assert isinstance(b, np.ndarray), f"{where}: {type(b).__name__}, expected an ndarray"
    assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {b.dtype}{b.shape} != {a.dtype}{a.shape}"
    if a.dtype.kind in "fc":
        nan = np.isnan(a)
        assert np.array_equal(nan, np.isnan(b)), f"{where}: NaN in other places"
        assert a[~nan].tobytes() == b[~nan].tobytes(), f"{where}: values differ"
    else:
        assert np.array_equal(a, b), f"{where}: values differ"


def _state(obj) -> dict:
    """An object's attributes, without cached properties (computed on demand, from the others)."""
    cls = type(obj)
    return {k: v for k, v in vars(obj).items() if not isinstance(getattr(cls, k, None), functools.cached_property)}


def assert_same_value(a, b, where):
    if isinstance(a, Result):
        assert_same(a, b, where)
    elif isinstance(a, np.ndarray):
        assert_arrays_same(a, b, where)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), f"{where}: keys {list(b)} != {list(a)}"
        for k in a:
            assert_same_value(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{where}: {b!r} != {a!r}"
        for j, (x, y) in enumerate(zip(a, b)):
            assert_same_value(x, y, f"{where}[{j}]")
    elif isinstance(a, xr.Dataset):
        xr.testing.assert_identical(a, b)
    elif isinstance(a, sp.Committee):
        assert a == b and repr(a) == repr(b) and a.to_dict() == b.to_dict(), f"{where}: {b!r} != {a!r}"
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), f"{where}: {b!r} != nan"
    else:
        assert a == b, f"{where}: {b!r} != {a!r}"
        if not isinstance(a, str):  # a Status may come back as its string; numbers keep their type
            assert type(a) is type(b), f"{where}: {type(b).__name__} != {type(a).__name__}"


def assert_same(a, b, where="result"):
    """``b`` (loaded) is ``a`` (saved): type, repr, model, status, message and every attribute."""
    assert type(b) is type(a), f"{where}: {type(b).__name__}, expected {type(a).__name__}"
    assert repr(b) == repr(a)
    assert b.status == a.status and isinstance(b.status, Status) and b.message == a.message
    sa, sb = _state(a), _state(b)
    assert set(sb) == set(sa), f"{where}: attributes {sorted(sb)} != {sorted(sa)}"
    for k in sa:
        assert_same_value(sa[k], sb[k], f"{where}.{k}")
    assert json.dumps(b.to_dict()) == json.dumps(a.to_dict())  # every derived quantity, too
    xr.testing.assert_identical(b.to_xarray(), a.to_xarray())  # saving it again saves the same


def round_trip(res, tmp_path, name="res.nc"):
    """``res`` saved with ``to_xarray().to_netcdf()`` and loaded; also rebuilt in memory. Both must equal it."""
    path = tmp_path / name
    res.to_xarray().to_netcdf(path)
    back = sp.load(path)
    assert_same(res, back)
    assert_same(res, type(res).from_xarray(res.to_xarray()))  # a dataset in memory
    assert_same(res, Result.from_xarray(xr.load_dataset(path)))  # any reader, the type from the file
    return back


# -- the results ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bn_model():
    return sp.Committee(2, 2, bn="exact")


@pytest.fixture(scope="module")
def ode(bn_model):
    Q0, R0, g0, _ = sp.random_initial(bn_model, N=200, seed=0)
    return sp.integrate(bn_model, eta=1.0, alpha_max=5, start=(Q0, R0, g0))


@pytest.fixture(scope="module")
def sim(bn_model):
    return sp.simulate(bn_model, N=50, eta=1.0, alpha_max=1, seeds=2, method="overlaps")


def test_ode_result_round_trip(ode, tmp_path):
    back = round_trip(ode, tmp_path)
    assert ode.g is not None and back.info == ode.info and back.v.shape == (ode.alpha.size, 2)


def test_ode_result_with_fluctuations_and_teacher_round_trip(tmp_path):
    model = sp.Committee(2, 3, T=np.diag([1.0, 0.5, 0.25]), noise=0.1, tau=2.0)
    Q0, R0, _, _ = sp.random_initial(model, N=300, seed=1)
    res = sp.integrate(model, eta=0.5, alpha_max=2, start=(Q0, R0), bands_N=300, method="rk4", dt=0.05,
                       alphas=[0.0, 1.0, 2.0])
    assert res.eg_std is not None and res.covariance is not None
    back = round_trip(res, tmp_path)
    assert back.model == model and not np.array_equal(back.model.T, np.eye(3))


def test_two_layer_ode_round_trip(tmp_path):
    model = sp.Committee(2, 2, second_layer="learned", v_teacher=[1.0, 0.7], weight_decay=1e-3, scaling="1/K")
    Q0, R0, _, _ = sp.random_initial(model, N=200, seed=0)
    res = sp.integrate(model, eta=1.0, alpha_max=5, start=(Q0, R0, None, [0.5, 0.5]), eta2=0.5)
    back = round_trip(res, tmp_path)
    assert back.eta2 == 0.5 and back.model.learns_v


def test_failed_ode_round_trip(tmp_path):
    model = sp.Committee(2, 2)
    Q0, R0, _, _ = sp.random_initial(model, N=200, seed=0)
    res = sp.integrate(model, eta=50.0, alpha_max=100, start=(Q0, R0), blowup=1e3)  # the norms blow up: stops early
    assert not res.success
    back = round_trip(res, tmp_path)
    assert back.status == res.status and not back.success


def test_empty_interrupted_ode_round_trip(ode, tmp_path):
    """A run interrupted before its first record: zero-length arrays come back with their shapes."""
    empty = dataclasses.replace(ode, alpha=ode.alpha[:0], Q=ode.Q[:0], R=ode.R[:0], g=ode.g[:0], eg=ode.eg[:0],
                                v=ode.v[:0], status=Status.INTERRUPTED, message="interrupted before alpha = 0")
    back = round_trip(empty, tmp_path)
    assert back.Q.shape == (0, 2, 2) and back.v.shape == (0, 2)


def test_netcdf3_file_loads(ode, tmp_path):
    """xarray's other writer (scipy, NetCDF3) reads back the same."""
    path = tmp_path / "v3.nc"
    ode.to_xarray().to_netcdf(path, engine="scipy")
    assert path.read_bytes()[:3] == b"CDF"
    assert_same(ode, sp.load(path))


def test_simulation_result_round_trip(sim, tmp_path):
    back = round_trip(sim, tmp_path)
    assert back.seeds.dtype == sim.seeds.dtype and back.n_recorded.dtype == sim.n_recorded.dtype


def test_simulation_with_nan_random_teacher_and_test_set_round_trip(tmp_path):
    """Weights at small N, a random teacher (its own T per seed), a test-set estimate, and a learning
    rate large enough that a seed diverges: NaN after its last record must come back as NaN."""
    model = sp.Committee(2, 2)
    res = sp.simulate(model, N=20, eta=80.0, alpha_max=20, seeds=3, n_test=50, exact_teacher=False, workers=1,
                      blowup=1e3, alphas=np.linspace(0, 20, 11))
    assert res.eg_test is not None and not res.info["exact_teacher"]
    assert res.status == "diverged" and np.isnan(res.Q).any() and np.isnan(res.eg_test).any()
    round_trip(res, tmp_path)


def test_simulation_nan_survives(tmp_path):
    """NaN in a saved array (a seed stopped early) reads back as NaN, in the same places."""
    res = sp.simulate(sp.Committee(2, 2), N=30, eta=80.0, alpha_max=20, seeds=2, method="overlaps", blowup=1e3,
                      alphas=np.linspace(0, 20, 11))
    assert not res.success and np.isnan(res.eg).any()
    back = round_trip(res, tmp_path)
    assert back.seed_status == res.seed_status


def test_relu_simulation_round_trip(tmp_path):
    """The activation is part of the model: a ReLU run comes back with a ReLU model."""
    model = sp.Committee(2, 2, activation="relu")
    res = sp.simulate(model, N=30, eta=0.5, alpha_max=1, seeds=2, method="overlaps", workers=1)
    back = round_trip(res, tmp_path)
    assert back.model.activation == "relu" and back.model == model


def test_comparison_round_trip(tmp_path):
    cmp = sp.compare(sp.Committee(2, 2, bn="paper"), N=50, eta=1.0, alpha_max=2, seeds=2, method="overlaps")
    back = round_trip(cmp, tmp_path)
    assert_same(cmp.simulation, back.simulation)


@pytest.mark.parametrize("model", [sp.Committee(2, 2), sp.Committee(3, 3, bn="exact"),
                                   sp.Committee(2, 2, bn="exact", gain="fixed", tau=2.0),
                                   sp.Committee(2, 2, second_layer="learned", scaling="1/K")],
                         ids=["plain", "bn", "bn-fixed-gain", "two-layer"])
def test_fixed_point_round_trip(model, tmp_path):
    fp = sp.symmetric_fixed_point(model)
    back = round_trip(fp, tmp_path)
    assert_arrays_same(np.asarray(fp.jacobian_eigenvalues), back.jacobian_eigenvalues, "jacobian_eigenvalues")
    assert back.escape_rate == fp.escape_rate and back.eg == fp.eg


def test_fixed_point_with_norm_round_trip(tmp_path):
    fp = sp.symmetric_fixed_point(sp.Committee(2, 2, bn="paper"), norm=2.0)
    back = round_trip(fp, tmp_path)
    assert back.norm == 2.0


@pytest.mark.parametrize("model,N", [(sp.Committee(2, 2), 100), (sp.Committee(2, 2, bn="paper"), 100),
                                     (sp.Committee(2, 2), 4)], ids=["plain", "bn", "no-bulk"])
def test_curvature_round_trip(model, N, tmp_path):
    c = sp.curvature(model, (0.5 * np.eye(2), 0.3 * np.eye(2)), N=N)
    back = round_trip(c, tmp_path)
    for kind in ("hessian", "fisher"):
        assert_arrays_same(c.eigenvalues(kind), back.eigenvalues(kind), kind)
        assert_arrays_same(c.matrix(kind), back.matrix(kind), kind)
        assert back.stats(kind) == c.stats(kind)


def test_curvature_trajectory_round_trip(ode, sim, tmp_path):
    round_trip(ode.curvature(N=50), tmp_path, "ode.nc")
    traj = sim.curvature()
    assert traj.seeds is not None
    round_trip(traj, tmp_path, "sim.nc")


def test_escape_time_round_trip(tmp_path):
    res = sp.escape_time(sp.Committee(2, 2), N=200, eta=1.0, samples=3, alpha_max=40, workers=1)
    round_trip(res, tmp_path)


def test_sweep_result_round_trip(tmp_path):
    store = tmp_path / "store"
    res = sp.sweep("fixed_point", {"K": [2, 3]}, scheduler="sync", store=store)
    back = sp.load(store / "sweep.nc")  # what sweep() itself wrote
    assert_same(res, back)
    assert back.store == store
    round_trip(res, tmp_path)
    memory = sp.sweep("fixed_point", {"K": [2]}, scheduler="sync")  # no store
    assert memory.store is None
    round_trip(memory, tmp_path, "memory.nc")


def test_every_result_type_has_a_reader_and_a_test():
    """A new result type without a reader, or without a round-trip test here, fails this test."""
    def subclasses(cls):
        return {c for s in cls.__subclasses__() for c in {s} | subclasses(s)}
    names = {c.__name__ for c in subclasses(Result)}
    assert names == set(RESULT_TYPES) == set(READERS)
    tested = {"ODEResult", "SimulationResult", "Comparison", "FixedPoint", "Curvature", "CurvatureTrajectory",
              "EscapeTime", "SweepResult"}
    assert names == tested


def test_from_xarray_of_the_wrong_class_is_refused(ode):
    with pytest.raises(ValueError, match="holds a ODEResult, not a FixedPoint"):
        sp.FixedPoint.from_xarray(ode.to_xarray())
    assert type(sp.ODEResult.from_xarray(ode.to_xarray())) is sp.ODEResult


# -- the command line's --out ------------------------------------------------------------------------
def test_cli_ode_out_loads_as_the_api_result(tmp_path, capsys):
    path = tmp_path / "ode.nc"
    assert main(["ode", "--bn", "exact", "--K", "2", "--eta", "0.5", "--alpha-max", "20", "--points", "5",
                 "--seed", "7", "--N", "300", "--out", str(path)]) == 0
    capsys.readouterr()
    model = sp.Committee(2, 2, bn="exact")
    Q0, R0, g0, _ = sp.random_initial(model, 300, 7)
    res = sp.integrate(model, 0.5, 20.0, start=(Q0, R0, g0), alphas=sp.default_alphas(20.0, 4))
    back = sp.load(path)
    assert_same(res, back)


def test_cli_simulate_out_loads_as_the_api_result(tmp_path, capsys):
    path = tmp_path / "sim.nc"
    assert main(["simulate", "--K", "2", "--bn", "paper", "--N", "60", "--eta", "1.0", "--alpha-max", "2",
                 "--seeds", "2", "--points", "5", "--method", "overlaps", "--workers", "1",
                 "--out", str(path)]) == 0
    capsys.readouterr()
    res = sp.simulate(sp.Committee(2, 2, bn="paper"), 60, 1.0, 2.0, seeds=2, alphas=sp.default_alphas(2.0, 4),
                      method="overlaps", workers=1)
    assert_same(res, sp.load(path))


def test_cli_compare_out_loads_as_the_api_result(tmp_path, capsys):
    path = tmp_path / "cmp.nc"
    assert main(["compare", "--K", "2", "--N", "60", "--eta", "1.0", "--alpha-max", "2", "--seeds", "2",
                 "--points", "5", "--method", "overlaps", "--workers", "1", "--out", str(path)]) == 0
    capsys.readouterr()
    cmp = sp.compare(sp.Committee(2, 2), 60, 1.0, 2.0, 2, alphas=sp.default_alphas(2.0, 4), method="overlaps",
                     workers=1)
    assert_same(cmp, sp.load(path))


def test_cli_sweep_store_loads(tmp_path, capsys):
    cfg = tmp_path / "fp.toml"
    cfg.write_text('task = "fixed_point"\n[grid]\nK = [2, 3]\n')
    assert main(["sweep", str(cfg), "--scheduler", "sync"]) == 0
    capsys.readouterr()
    path = tmp_path / "fp.sweep" / "sweep.nc"
    back = sp.load(path)
    assert type(back) is sp.SweepResult and back.store == tmp_path / "fp.sweep" and back.n_points == 2
    assert_same(back, sp.load(path))
    xr.testing.assert_identical(back.to_xarray(), xr.load_dataset(path))


# -- files saved before results recorded their type -----------------------------------------------
def _strip(ds, *variables):
    """The dataset as the code before this change saved it: no symphase_* attributes, no new variables."""
    ds = ds.drop_vars(list(variables))
    ds.attrs = {k: v for k, v in ds.attrs.items()
                if not k.startswith("symphase_") and k not in ("simulation_status", "simulation_message")}
    return ds


def test_older_ode_file_loads(ode, tmp_path):
    path = tmp_path / "old.nc"
    _strip(ode.to_xarray()).to_netcdf(path)
    back = sp.load(path)
    assert_same(ode, back)  # the ODE's info is all scalars, so even it comes back whole


def test_older_simulation_file_loads_its_arrays(sim, tmp_path):
    path = tmp_path / "old.nc"
    _strip(sim.to_xarray(), "n_recorded").to_netcdf(path)
    back = sp.load(path)
    assert type(back) is sp.SimulationResult and repr(back) == repr(sim)
    for name in ("alpha", "Q", "R", "g", "eg", "v", "seeds", "n_recorded"):
        assert_arrays_same(getattr(sim, name), getattr(back, name), name)
    assert back.model == sim.model and back.status == sim.status and back.message == sim.message


def test_older_fixed_point_file_loads(tmp_path):
    """A fixed point exists only for T = I (symmetric_fixed_point refuses any other), so the teacher an
    older file did not save is known; its spectra come back as saved."""
    fp = sp.symmetric_fixed_point(sp.Committee(3, 3, bn="paper", tau=2.0))
    path = tmp_path / "old_fp.nc"
    _strip(fp.to_xarray()).to_netcdf(path)
    assert_same(fp, sp.load(path))


def test_older_file_without_the_model_is_refused_with_what_is_missing(tmp_path):
    """A curvature is computed for any teacher T, which an older file did not save: refused, saying so."""
    c = sp.curvature(sp.Committee(2, 2, T=np.diag([1.0, 0.5])), (0.5 * np.eye(2), 0.3 * np.eye(2)), N=50)
    path = tmp_path / "old_curvature.nc"
    _strip(c.to_xarray()).to_netcdf(path)
    with pytest.raises(ValueError, match=r"old_curvature\.nc.*no attribute 'symphase_model'.*'T'"):
        sp.load(path)


@pytest.mark.parametrize("path", FIGURES, ids=[p.stem for p in FIGURES])
def test_figure_data_is_not_a_result(path):
    with pytest.raises(ValueError, match=rf"{path.name}.*data of figure.*not a result"):
        sp.load(path)


# -- bad files ------------------------------------------------------------------------------------------
def test_truncated_file_is_a_clear_error(ode, tmp_path):
    path = tmp_path / "cut.nc"
    ode.to_xarray().to_netcdf(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.nc.*cannot be read as NetCDF \(truncated, corrupt"):
        sp.load(path)


@pytest.mark.parametrize("content", [b"", b"not a netcdf file at all\n" * 10, b"\x89HDF\r\n\x1a\n" + bytes(200)],
                         ids=["empty", "text", "bad-hdf5"])
def test_corrupt_file_is_a_clear_error(content, tmp_path):
    path = tmp_path / "bad.nc"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"bad\.nc.*cannot be read as NetCDF"):
        sp.load(path)


def test_missing_file_folder_csv_and_non_path(tmp_path, sim):
    with pytest.raises(ValueError, match="no such file"):
        sp.load(tmp_path / "nope.nc")
    with pytest.raises(ValueError, match="is a folder"):
        sp.load(tmp_path)
    csv = tmp_path / "sim.csv"
    sim.to_dataframe().to_csv(csv)
    with pytest.raises(ValueError, match="CSV table"):
        sp.load(csv)
    with pytest.raises(TypeError, match="path must be"):
        sp.load(3)
    with pytest.raises(TypeError, match=r"from_xarray\(ds\)"):
        sp.load(sim.to_xarray())


def test_dataset_without_a_result_is_refused(tmp_path):
    path = tmp_path / "other.nc"
    xr.Dataset({"x": ("i", np.arange(3.0))}).to_netcdf(path)
    with pytest.raises(ValueError, match=r"other\.nc.*no attribute 'symphase_result'.*\(x\) match no result type"):
        sp.load(path)


def test_saved_result_missing_a_variable_names_it(ode, tmp_path):
    path = tmp_path / "partial.nc"
    ode.to_xarray().drop_vars("R").to_netcdf(path)
    with pytest.raises(ValueError, match=r"partial\.nc.*ODEResult lacks its variable 'R'"):
        sp.load(path)


def test_unknown_result_type_is_refused(ode, tmp_path):
    path = tmp_path / "future.nc"
    ds = ode.to_xarray()
    ds.attrs[RESULT_ATTR] = "FutureResult"
    ds.to_netcdf(path)
    with pytest.raises(ValueError, match="unknown result type 'FutureResult'"):
        sp.load(path)


def test_json_of_model_and_info_is_exact():
    """The model and info are saved as JSON attributes: every float64 reads back bit for bit (-0.0, subnormals,
    NaN, infinities), integers at 2^63 - 1 too, arrays with their dtype and shape."""
    from symphase._results import from_json, to_json
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(100) * 10.0 ** rng.integers(-300, 300, 100),
                        [-0.0, 5e-324, np.nan, np.inf, -np.inf, 0.1]])
    info = {"x": x, "i": np.arange(3, dtype=np.int32).reshape(3, 1), "big": 2**63 - 1, "s": np.array(["a", "bc"]),
            "e": np.zeros((0, 2)), "f": float(x[0]), "flag": True, "none": None, "status": Status.DIVERGED}
    back = from_json(to_json(info))
    for k in ("x", "i", "s", "e"):
        assert_arrays_same(info[k], back[k], k)
    assert back["big"] == 2**63 - 1 and back["f"] == info["f"] and back["flag"] is True and back["none"] is None
    assert back["status"] == "diverged"
    assert np.signbit(back["x"][100]) and back["x"][101] == 5e-324
