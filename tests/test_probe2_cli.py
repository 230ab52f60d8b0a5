"""Issue 22 (second reliability probe): the command line, files, ``reproduce``, sweeps and the ODE's boundary.

Items 1, 2, 9 and 10 run real ``symphase`` processes, as tests/test_faults.py does: stderr is a
pseudo-terminal (so the run shows its progress bar), a signal is sent once the computation is under
way, and every wait is bounded. Each test fails on the code before the fix (the item it pins is named).
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from test_faults import RUN_TIMEOUT, START_TIMEOUT, Run  # the pseudo-terminal runner of the fault tests

import symphase as sp
from symphase.cli import main


def symphase(*args, cwd=None, timeout=RUN_TIMEOUT, env=None):
    """``python -m symphase ARGS`` to the end: ``(rc, stdout, stderr)``."""
    p = subprocess.run([sys.executable, "-m", "symphase", *args], check=False, cwd=cwd, capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL, env=env)
    return p.returncode, p.stdout, p.stderr


def wait_for(run, text: bytes, timeout=START_TIMEOUT):
    """Block until ``text`` shows on the run's stderr (bounded)."""
    deadline = time.monotonic() + timeout
    while text not in run.err:
        if run.proc.poll() is not None:
            pytest.fail(f"the run ended before {text!r} showed: rc={run.proc.returncode}, "
                        f"stderr={run.err.decode(errors='replace')[-2000:]}")
        if time.monotonic() > deadline:
            run.proc.kill()
            pytest.fail(f"no {text!r} within {timeout} s")
        time.sleep(0.02)


def finish(run, timeout):
    """Wait (bounded by ``timeout`` seconds) for the run to end: ``(rc, stdout, stderr, seconds)``."""
    t0 = time.monotonic()
    try:
        out, _ = run.proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        run.proc.kill()
        run.proc.communicate()
        pytest.fail(f"still running {timeout} s later; stderr={run.err.decode(errors='replace')[-2000:]}")
    took = time.monotonic() - t0
    run.reader.join(timeout=10)
    os.close(run.master)
    return run.proc.returncode, out.decode(), run.err.decode(errors="replace"), took


def last_line(err: str) -> str:
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.startswith("symphase:")]
    assert lines, err
    return lines[-1]


# -- item 1: a failed final save loses nothing -------------------------------------------------------

@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 kB tmpfs: a disk that fills up (root only; skipped where mounting is not allowed)."""
    where = tmp_path / "tiny"
    where.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], check=False,
                       capture_output=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({p.stderr.decode(errors='replace').strip()})")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False, capture_output=True)


@pytest.mark.slow
def test_full_disk_prints_the_result_saves_it_elsewhere_and_exits_1(tmp_path, tiny_disk):
    """Item 1: ``ode --points 3001 --out`` on a full disk was a multi-line h5py message, then a segfault
    (exit 139) in h5netcdf's close(). Now: the result is printed, saved in the temporary folder (said in
    one line), exit 1, and nothing is left on the full disk."""
    spare = tmp_path / "spare"
    spare.mkdir()
    env = {**os.environ, "TMPDIR": str(spare)}
    rc, out, err = symphase("ode", "--alpha-max", "100", "--points", "3001", "--out", str(tiny_disk / "a.nc"),
                            env=env)
    assert rc == 1, (rc, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "could not save --out" in err and "No space left on device" in err, err
    assert "# status: completed" in out  # the result is printed
    saved = list(spare.glob("a.*.nc"))
    assert len(saved) == 1 and str(saved[0]) in err
    # the run's numbers: bit for bit those of the same command saved on a good disk (a fresh process, as this
    # one), and the API's to 1e-12 (the last bits used to depend on the order in which a process compiled or
    # loaded its kernels, fastmath copies of the right-hand side: docs/model.md §11, tests/test_bits.py)
    assert symphase("ode", "--alpha-max", "100", "--points", "3001", "--out", str(tmp_path / "good.nc"))[0] == 0
    api = sp.integrate(sp.Committee(2, 2), 0.5, 100, start=sp.random_initial(sp.Committee(2, 2), 1000, 0)[:2],
                       alphas=sp.default_alphas(100, 3000))
    with xr.open_dataset(saved[0], engine="h5netcdf") as ds, xr.open_dataset(tmp_path / "good.nc") as good:
        np.testing.assert_array_equal(ds["eg"].values, good["eg"].values)
        np.testing.assert_allclose(ds["eg"].values, api.eg, rtol=1e-12, atol=0)
    assert list(tiny_disk.iterdir()) == []  # no temporary left on the full disk


@pytest.mark.slow
def test_out_folder_removed_mid_run_keeps_the_result(tmp_path):
    """Item 1: ``simulate ... --out DIR/r.nc`` with DIR removed during the run ended with exit 1 and
    nothing printed. Now: the table is printed, the result saved beside (the nearest folder that still
    exists, said in one line), exit 1."""
    folder = tmp_path / "DIR"
    folder.mkdir()
    run = Run(["simulate", "--N", "2000", "--alpha-max", "20", "--seeds", "2", "--workers", "2", "--points", "11",
               "--out", str(folder / "r.nc")], cwd=tmp_path)
    wait_for(run, b"%|")
    folder.rmdir()
    rc, out, err, _ = finish(run, RUN_TIMEOUT)
    assert rc == 1, (rc, err)
    line = last_line(err)
    assert "could not save --out" in line and "No such file or directory" in line, err
    assert "Traceback" not in err
    assert "eg mean" in out  # the table is printed
    saved = list(tmp_path.glob("r.*.nc"))
    assert len(saved) == 1 and str(saved[0]) in line
    with xr.open_dataset(saved[0], engine="h5netcdf") as ds:
        assert ds.attrs["status"] == "completed" and np.all(np.isfinite(ds["eg"].values))


def test_save_result_never_raises_and_says_where_it_went(tmp_path, monkeypatch):
    """Item 1 at the function: a writer that fails (any exception) leaves a one-line message and the
    result in the nearest folder; before, the exception went up and the result was lost."""
    from symphase.cli import common
    model = sp.Committee(2, 2)
    res = sp.integrate(model, 0.5, 5.0, start=(np.eye(2) * 0.5, np.zeros((2, 2)) + 0.1), alphas=np.linspace(0, 5, 6))
    gone = tmp_path / "gone" / "deeper"
    msg = common.save_result(res, gone / "r.csv")
    assert msg is not None and "could not save --out" in msg and "\n" not in msg
    spare = Path(msg.split("saved it to ")[1].split("'")[1])
    assert spare.parent == tmp_path and spare.exists()
    real_write = common._write
    calls = []

    def broken_write(result, path, frame):
        calls.append(path)
        if len(calls) == 1:
            raise RuntimeError("HDF5: something broke")
        return real_write(result, path, frame)
    monkeypatch.setattr(common, "_write", broken_write)
    msg = common.save_result(res, tmp_path / "x.nc")
    assert "RuntimeError: HDF5: something broke" in msg and len(calls) == 2


# -- item 13: no planted symbolic link is followed --------------------------------------------------

@pytest.mark.parametrize("suffix", [".nc", ".csv"])
@pytest.mark.slow
def test_a_planted_symlink_is_never_followed(tmp_path, suffix):
    """Item 13: ``ln -s victim .out.nc.$$.part; exec symphase ode ... --out out.nc`` overwrote ``victim``
    and left ``out.nc`` a link to it. The temporary is now made with O_EXCL under an unpredictable name:
    the planted links (at the old temporary name and at ``--out`` itself) are not followed, the victims
    are untouched and ``out`` is a regular file with the result."""
    victim, victim2 = tmp_path / "victim", tmp_path / "victim2"
    victim.write_text("precious\n")
    victim2.write_text("precious too\n")
    out = f"out{suffix}"
    os.symlink(victim2, tmp_path / out)  # a link at the target itself: replaced, not written through
    script = (f"ln -s {victim} .{out}.$$.part; exec {sys.executable} -m symphase ode --alpha-max 10 "
              f"--points 5 --out {out}")
    p = subprocess.run(["sh", "-c", script], check=False, cwd=tmp_path, capture_output=True, text=True,
                       timeout=RUN_TIMEOUT)
    assert p.returncode == 0, p.stderr
    assert victim.read_text() == "precious\n" and victim2.read_text() == "precious too\n"
    target = tmp_path / out
    assert target.is_file() and not target.is_symlink()
    if suffix == ".nc":
        with xr.open_dataset(target, engine="h5netcdf") as ds:
            assert ds["eg"].size == 5
    else:
        assert target.read_text().startswith("alpha,")


def test_write_netcdf_makes_a_new_unpredictable_temporary(tmp_path, monkeypatch):
    """Item 13 at the function: the temporary is created by ``mkstemp`` (O_CREAT | O_EXCL) in the target's
    folder, whatever the predictable old name holds."""
    from symphase import _io
    victim = tmp_path / "victim"
    victim.write_text("x")
    os.symlink(victim, tmp_path / f".r.nc.{os.getpid()}.part")
    made = []
    real = _io.tempfile.mkstemp

    def spy(*a, **k):
        fd, name = real(*a, **k)
        made.append(name)
        return fd, name
    monkeypatch.setattr(_io.tempfile, "mkstemp", spy)
    _io.write_netcdf(xr.Dataset({"a": ("x", np.arange(3.0))}), tmp_path / "r.nc")
    assert victim.read_text() == "x"
    assert len(made) == 1 and Path(made[0]).parent == tmp_path and not Path(made[0]).exists()


# -- item 2: Ctrl-C during the fluctuation band keeps the ODE and the band so far --------------------

def test_integrate_with_N_keeps_the_partial_band_on_ctrl_c(monkeypatch):
    """Item 2 at the API: ``integrate(..., N=...)`` let ``KeyboardInterrupt`` escape from the band. Now it
    returns the whole ODE trajectory, the band up to where it got (the same bits as an uninterrupted
    run there), NaN after it, and status interrupted with a message saying so."""
    from symphase import _ode
    model = sp.Committee(2, 2)
    Q0, R0, _, _ = sp.random_initial(model, 1000, 0)
    alphas = np.linspace(0, 20, 6)
    full = sp.integrate(model, 1.0, 20, start=(Q0, R0), alphas=alphas, bands_N=1000, sigma0="random")
    real = _ode.linear_noise
    calls = []

    def interrupted_on_the_fourth(*a, **k):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*a, **k)
    monkeypatch.setattr(_ode, "linear_noise", interrupted_on_the_fourth)
    part = sp.integrate(model, 1.0, 20, start=(Q0, R0), alphas=alphas, bands_N=1000, sigma0="random")
    assert str(part.status) == "interrupted" and "fluctuation band" in part.message
    np.testing.assert_array_equal(part.eg, full.eg)  # the ODE is complete
    np.testing.assert_array_equal(part.eg_std[:3], full.eg_std[:3])  # the band so far, bit for bit
    assert np.all(np.isnan(part.eg_std[3:])) and np.all(np.isnan(part.covariance[3:]))
    assert "alpha = 8" in part.message and "3 of 6" in part.message
    assert full.status == "completed" and np.all(np.isfinite(full.eg_std))


@pytest.mark.slow
def test_ctrl_c_during_fluct_N_saves_the_ode_and_exits_130(tmp_path):
    """Item 2: ``ode --alpha-max 3000 --eta 1 --bands-N 1000 --out fl.nc`` with Ctrl-C during the band
    exited 130 with no output and no file, although the ODE had finished. Now the file holds the whole
    ODE, eg_std up to where the band got (equal to the API's numbers there) and NaN after, status
    interrupted."""
    out = tmp_path / "fl.nc"
    run = Run(["ode", "--alpha-max", "3000", "--eta", "1", "--bands-N", "1000", "--out", str(out)], cwd=tmp_path)
    wait_for(run, b"eg_std:")  # the band's own bar: the ODE is done, the band is being computed
    time.sleep(1.0)
    run.proc.send_signal(signal.SIGINT)
    rc, _, err, took = finish(run, 30)
    assert rc == 130, (rc, err)
    assert took < 10, took
    assert "interrupted" in last_line(err) and "Traceback" not in err
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds.attrs["status"] == "interrupted"
        alpha, eg, std = ds["alpha"].values, ds["eg"].values, ds["eg_std"].values
    assert alpha[-1] == 3000 and np.all(np.isfinite(eg))
    k = int(np.sum(np.isfinite(std)))
    assert 1 <= k < alpha.size and np.all(np.isnan(std[k:]))
    model = sp.Committee(2, 2)
    Q0, R0, _, _ = sp.random_initial(model, 1000, 0)
    ref = sp.integrate(model, 1.0, 3000, start=(Q0, R0), alphas=alpha[:k], bands_N=1000, sigma0="random")
    # the command ran in another process; its last bits used to depend on the kernels that process compiled
    # or loaded first (7.5e-14 relative on eg_std under pytest-xdist, with the fastmath right-hand side:
    # docs/model.md §11, tests/test_bits.py)
    np.testing.assert_allclose(ref.eg, eg[:k], rtol=1e-12, atol=0)
    np.testing.assert_allclose(ref.eg_std, std[:k], rtol=1e-12, atol=0)


# -- item 6: absurd values are bounded at the boundary ----------------------------------------------

@pytest.mark.parametrize("kw, name", [
    ({"eta": 1e150}, "eta"), ({"eta2": 1e300}, "eta2"), ({"rtol": 1e300}, "rtol"), ({"atol": 1.0}, "atol"),
    ({"blowup": 1e300}, "blowup"), ({"psd_tol": 2.0}, "psd_tol"), ({"bands_N": 3}, "bands_N"),
    ({"bands_N": 2**64}, "bands_N"), ({"v": [1e300, 1.0]}, r"start\.v")])
def test_integrate_bounds_every_run_parameter(kw, name):
    """Item 6 (and 11 for rtol, N, now bands_N): each of these was accepted (a ZeroDivisionError in
    initial_step, a wrong eps_g reported as completed, a band for N = 1); now a ValueError names it and
    its range. The second layer ``v`` is part of the start."""
    model = sp.Committee(2, 2, second_layer="learned") if name in ("eta2",) else sp.Committee(2, 2)
    eta = kw.pop("eta", 0.5)
    start = sp.State(np.eye(2) * 0.5, np.full((2, 2), 0.1), v=kw.pop("v", None))
    with pytest.raises(ValueError, match=rf"^{name}\b") as e:
        sp.integrate(model, eta, 10.0, start=start, **kw)
    assert "(" in str(e.value) or "[" in str(e.value)  # the range is given


@pytest.mark.parametrize("args, name", [
    (["--eta", "1e150"], "eta"), (["--second-layer", "learned", "--eta2", "1e300"], "eta2"),
    (["--rtol", "1e300"], "rtol"), (["--bands-N", "1"], "--bands-N")])
def test_ode_cli_names_the_bad_run_parameter(args, name, capsys):
    """Items 6 and 11: ``ode --eta 1e150`` / ``--eta2 1e300`` were a ZeroDivisionError traceback;
    ``--rtol 1e300`` and ``--fluct-N 1`` (now ``--bands-N``) were accepted. Now: exit 2, one line naming the option."""
    assert main(["ode", "--alpha-max", "10", "--points", "3", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"symphase: error: {name} must be") and err.count("\n") == 1, err


@pytest.mark.parametrize("args", [["--noise", "1e300"], ["--weight-decay", "1e150"]])
def test_a_right_hand_side_too_large_to_step_is_reported_not_a_traceback(args, capsys):
    """Item 6: the right-hand side at the start too large for the step-size control was a
    ZeroDivisionError in initial_step. Now it is refused at the boundary (exit 2, where the model bounds
    the field) or the run stops at once as step_size (exit 1) with a message saying why."""
    rc = main(["ode", "--alpha-max", "10", "--points", "3", *args])
    cap = capsys.readouterr()
    assert rc in (1, 2), cap
    if rc == 1:
        assert "no first step can be taken" in cap.out and "too large" in cap.out
    else:
        assert cap.err.startswith("symphase: error: ") and cap.err.count("\n") == 1


@pytest.mark.parametrize("args, names", [
    (["--v0", "1e300,1"], "start.v"), (["--v-teacher", "1e300,1"], "v_teacher"), (["--tau", "1e300"], "tau")])
def test_overflowing_scales_are_named_not_blamed_on_eta(args, names, capsys):
    """Item 12: ``--v0 1e300,1``, ``--v-teacher 1e300,1`` and ``--tau 1e300`` said "eta = 0.5 is too
    large". Now: exit 2, one line naming the scale, not eta."""
    assert main(["ode", "--alpha-max", "10", "--points", "3", *args]) == 2
    err = capsys.readouterr().err
    assert names in err and "eta = 0.5" not in err and err.count("\n") == 1, err


# -- item 9: reproduce stops on Ctrl-C --------------------------------------------------------------

@pytest.mark.slow
def test_reproduce_stops_at_once_on_ctrl_c_and_exits_130(tmp_path):
    """Item 9: ``reproduce --quick --only fig3`` marked fig3 "failed" with a traceback and exit 1 after
    Ctrl-C (the inner simulate swallowed it), and ``--only fig3,fig5`` went on for minutes. Now: it stops
    within seconds, fig3 is "interrupted" (no data file), fig5 is not started, exit 130, no traceback.
    (One figure at a time, ``--jobs 1``: with more, fig5 starts beside fig3; tests/test_reproduce_jobs.py.)"""
    out = tmp_path / "figs"
    run = Run(["reproduce", "--quick", "--only", "fig3,fig5", "--jobs", "1", "--out", str(out)], cwd=tmp_path)
    wait_for(run, b"%|")
    time.sleep(1.0)  # inside fig3's simulations (the quick fig. 3 takes about 4 s)
    run.proc.send_signal(signal.SIGINT)
    rc, stdout, err, took = finish(run, 60)
    assert rc == 130, (rc, stdout, err)
    assert took < 15, took
    assert "Traceback" not in err and "interrupted" in last_line(err)
    assert "fig3_paper_sgd               interrupted" in stdout and "fig5" not in stdout
    assert not (out / "fig3_paper_sgd.nc").exists()
    assert not [p for p in out.iterdir() if ".part" in p.name]


# -- item 14: reproduce --only --------------------------------------------------------------------

def test_reproduce_only_names_each_figure_once_and_refuses_an_empty_list(tmp_path, monkeypatch, capsys):
    """Item 14: ``--only fig1,fig1`` made fig1 twice and ``--only ''`` made every figure."""
    from symphase.figures import _reproduce
    mods = _reproduce.figure_modules(["fig1", "fig1_paper_hessian_K", "fig2", "fig1"])
    assert [m.NAME for m in mods] == ["fig1_paper_hessian_K", "fig2_paper_hessian_tau"]
    with pytest.raises(ValueError, match="only: no figure named"):
        _reproduce.figure_modules([])
    assert main(["reproduce", "--only", "", "--out", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symphase: error: only: no figure named") and err.count("\n") == 1
    assert not (tmp_path / "f").exists()


# -- item 10: costs announced, and Ctrl-C prompt ----------------------------------------------------

def test_simulation_cost_counts_test_inputs_and_the_sde_step(capsys):
    """Item 10: the estimate left out ``--test`` (``simulate --test 1000000000`` ran with no warning) and
    the SDE's multiplied by its step instead of dividing (400x too low at step 0.05). Both now warn.
    The numbers: 4 seeds x 61 records x 1e9 test inputs x N (K + M) = 9.8e14 multiply-adds, days on 2
    cores; the SDE run below is 2e9 steps-worth estimated at ~1.2e13 (~3 h), which the old formula put
    400x lower (under the 600 s threshold)."""
    from symphase.cli.common import LONG_RUN_S, SGD_RATE, check_simulation_cost, sde_step_work
    model = sp.Committee(2, 2)
    check_simulation_cost(model, 1000, 4, 2, 1.0, n_test=10**9, points=61)
    err = capsys.readouterr().err
    assert err.startswith("symphase: warning:") and "--test 1000000000" in err, err
    check_simulation_cost(model, 1000, 4, 2, 1.0, n_test=0, points=61)
    assert capsys.readouterr().err == ""  # the same run without test inputs is short
    work = sde_step_work(model)
    alpha_max = 20.0 * LONG_RUN_S * SGD_RATE * 2 / (4 * work / 0.05)  # ~20x the threshold
    old = 4 * alpha_max * 1000 * work * 0.05 / 1000 / (SGD_RATE * 2)
    assert old < LONG_RUN_S  # the old formula (times the step, not divided by it) stayed silent here
    check_simulation_cost(model, 1000, 4, 2, alpha_max, method="sde")
    err = capsys.readouterr().err
    assert "examples per step of 0.05" in err, err


@pytest.mark.slow
def test_large_sweep_is_announced_and_ctrl_c_stops_it_at_once(tmp_path):
    """Item 10: a large sweep announced neither its size nor its cost, and Ctrl-C took 28.5 s (the
    finished points were counted by hashing every point again). Now: one warning line with the size
    before any work, and exit 130 within seconds of Ctrl-C."""
    etas = ", ".join(f"{x:.5g}" for x in np.linspace(0.01, 1.0, 150))
    taus = ", ".join(f"{x:.4g}" for x in np.linspace(0.5, 2.0, 100))
    cfg = tmp_path / "big.toml"
    cfg.write_text(f'task = "fixed_point"\n[grid]\neta = [{etas}]\ntau = [{taus}]\n')
    run = Run(["sweep", str(cfg), "--workers", "2"], cwd=tmp_path)
    wait_for(run, b"sweep: 15,000 points (150 x 100)")
    time.sleep(3.0)
    run.proc.send_signal(signal.SIGINT)
    rc, _, err, took = finish(run, 60)
    assert rc == 130, (rc, err)
    assert took < 10, took
    assert "interrupted" in last_line(err) and "Traceback" not in err


# -- item 11: options ignored -----------------------------------------------------------------------

@pytest.mark.parametrize("args", [["--g0", "garbage"], ["--g0", "2,2", "--bn", "exact"]])
def test_g0_without_a_given_start_is_refused(args, capsys):
    """Item 11: ``ode --g0`` without ``--Q0`` was silently ignored (even ``--g0 garbage``)."""
    assert main(["ode", "--alpha-max", "1", "--points", "2", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symphase: error: --g0") and "--Q0" in err and err.count("\n") == 1


# -- item 12: messages name the right thing ---------------------------------------------------------

@pytest.mark.parametrize("args, name", [
    (["--seeds", "1000000000"], "--seeds"), (["--points", "10000000000"], "--points")])
def test_memory_refusals_name_the_option_that_dominates(args, name, capsys):
    """Item 12: ``--seeds 1e9`` (and ``--batch``, ``--points``) said "use a smaller N"."""
    assert main(["simulate", "--alpha-max", "1", *args]) == 2
    err = capsys.readouterr().err
    assert f"use a smaller {name}" in err and "smaller N" not in err and err.count("\n") == 1, err


def test_out_of_memory_does_not_blame_N(monkeypatch, capsys):
    """Item 12: running out of memory for ``--points`` or ``--samples`` advised a smaller N."""
    from symphase.cli import ode as ode_cli

    def no_memory(*a, **k):
        raise MemoryError
    monkeypatch.setattr(ode_cli, "integrate", no_memory)
    assert main(["ode", "--alpha-max", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("symphase: failed: out of memory") and "--points" in err and "smaller N" not in err


def test_v_teacher_shape_is_checked_against_M(capsys):
    """Item 12: ``--K 3 --M 2 --v-teacher 1,0.5,2`` reported the shape against K."""
    assert main(["ode", "--K", "3", "--M", "2", "--v-teacher", "1,0.5,2", "--alpha-max", "1"]) == 2
    err = capsys.readouterr().err
    assert "v_teacher" in err and "M = 2" in err and "K=" not in err, err


def test_init_with_nan_weights_says_non_finite():
    """Item 12: ``init={"J": <NaN weights>}`` reported a shape, although the shape was right."""
    model = sp.Committee(2, 2)
    with pytest.raises(ValueError, match="'J' must be finite") as e:
        sp.simulate(model, 50, 0.5, 1.0, start={"J": np.full((2, 50), np.nan)})
    assert "shape" not in str(e.value)
    J = np.random.default_rng(0).standard_normal((2, 50)) / np.sqrt(50)
    with pytest.raises(ValueError, match="'B' must be finite"):
        sp.simulate(model, 50, 0.5, 1.0, start={"J": J, "B": np.full((2, 50), np.inf)})


def test_a_bad_config_is_one_line_naming_the_file(tmp_path, capsys):
    """Item 12: a config that is a folder exited 1 (an IsADirectoryError); one with invalid UTF-8 named
    no file. Both: exit 2, one line naming the file."""
    folder = tmp_path / "cfg.toml"
    folder.mkdir()
    assert main(["sweep", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symphase: error: config:") and str(folder) in err and "folder" in err
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'task = "ode\xff"\n[grid]\neta = [0.5]\n')
    assert main(["sweep", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symphase: error: config:") and str(bad) in err and "UTF-8" in err
    assert err.count("\n") == 1


# -- item 14: no "leaked semaphore" warning after kill -9 of a sweep --------------------------------

@pytest.mark.slow
def test_kill_9_of_a_sweep_leaves_no_leaked_semaphore_warning(tmp_path):
    """Item 14: after ``kill -9`` of a sweep, multiprocessing's resource tracker (which outlives it and
    shares its stderr) printed a two-line "There appear to be 5 leaked semaphore objects" warning. It
    still cleans them up, quietly."""
    cfg = tmp_path / "s.toml"
    cfg.write_text('task = "ode"\n[grid]\neta = [0.1, 0.3, 0.5, 1.0]\nK = [2, 3]\n[fixed]\nalpha_max = 3000.0\n')
    run = Run(["sweep", str(cfg), "--workers", "2"], cwd=tmp_path)
    wait_for(run, b"%|")
    time.sleep(2.0)
    run.proc.kill()
    run.proc.wait(timeout=RUN_TIMEOUT)
    run.reader.join(timeout=30)  # the terminal closes when the tracker, its last holder, is done
    assert not run.reader.is_alive(), "the resource tracker did not end"
    os.close(run.master)
    err = run.err.decode(errors="replace")
    assert "leaked" not in err and "resource_tracker" not in err, err


@pytest.mark.slow
def test_the_band_of_a_wide_network_is_announced(capsys):
    """Item 10: ``ode --bands-N 1000 --K 8`` (then ``--fluct-N``) ran for over 150 s with no warning. The band
    needs at least 4 alpha_max evaluations of the diffusion matrix (about 0.5 s each at K = M = 8 here),
    so 1000 in alpha is half an hour or more: announced. At K = 2 and alpha_max = 10 it is not (a few ms each)."""
    from symphase.cli.common import warn_band_cost
    for K, alpha_max, loud in [(2, 10.0, False), (8, 1000.0, True)]:
        model = sp.Committee(K, K)
        Q0, R0, g0, _ = sp.random_initial(model, 1000, 0)
        warn_band_cost(model, Q0, R0, g0, 1.0, alpha_max)
        err = capsys.readouterr().err
        assert ("--bands-N: K = 8" in err) == loud, err


def test_curvature_cost_is_announced_and_memory_refused(capsys):
    """Item 10: ``curvature --K 60`` took 247 s and 1.4 GB with no warning. Now one warning line before the
    work (cost ~ (K (K + M))^3), and a K whose matrices cannot fit is refused naming --K."""
    from symphase.cli.common import warn_curvature_cost
    warn_curvature_cost(sp.Committee(2, 2))
    assert capsys.readouterr().err == ""
    warn_curvature_cost(sp.Committee(60, 60))
    err = capsys.readouterr().err
    assert err.startswith("symphase: warning: K = 60") and "7260 x 7260" in err and "GB" in err, err
    with pytest.raises(ValueError, match=r"^--K = 400: .* use a smaller --K"):
        warn_curvature_cost(sp.Committee(400, 400))


def test_escape_time_announces_an_unreachable_threshold(capsys):
    """Item 10: with a threshold the ODE never reaches, escape-time silently set alpha_max to 1e5 (about
    5 h for 200 samples). The API now tells its ``announce`` how alpha_max was chosen, before sampling,
    and the command line warns with the cost; --samples that cannot fit are refused naming --samples."""
    from symphase.cli.common import escape_cost_announcer
    model = sp.Committee(2, 2, noise=0.5)
    seen = []

    def stop_here(alpha_max, how):
        seen.append((alpha_max, how))
        escape_cost_announcer(model, 200, 2)(alpha_max, how)
        raise KeyboardInterrupt  # the check is before any sampling
    with pytest.raises(KeyboardInterrupt):
        sp.escape_time(model, 1000, 1.0, threshold=0.001, samples=200, announce=stop_here)
    assert seen == [(1e5, "unreached")]
    err = capsys.readouterr().err
    assert err.startswith("symphase: warning: escape-time: the ODE from the start never reaches the threshold")
    assert "200 samples: up to about " in err and (" min " in err or " h " in err), err  # ~20 min at 2e6 steps
    with pytest.raises(ValueError, match=r"^--samples = 10000000000000: .* use a smaller --samples"):
        escape_cost_announcer(model, 10**13, 2)


@pytest.mark.slow
def test_ctrl_c_stops_a_huge_test_set_at_once(tmp_path):
    """Item 10: ``simulate --test 1000000000`` ignored SIGINT for more than 60 s (the test set was one
    compiled call per record). Now the test set is drawn in pieces of ~1e7 multiply-adds, each continuing
    the last one's sum and random stream (the same bits as one piece: tests/test_simulate.py), and Ctrl-C
    stops between pieces: exit 130 within 10 s, the record being drawn not counted."""
    run = Run(["simulate", "--N", "100", "--alpha-max", "1", "--seeds", "1", "--points", "2", "--test", "1000000000"],
              cwd=tmp_path)
    time.sleep(4.0)  # started, compiled, and inside the first record's test set (about 10 minutes of work)
    assert run.proc.poll() is None, run.err.decode(errors="replace")
    run.proc.send_signal(signal.SIGINT)
    rc, _, err, took = finish(run, 60)
    assert rc == 130, (rc, err)
    assert took < 10, took
    assert "Traceback" not in err


@pytest.mark.slow
def test_ctrl_c_stops_a_huge_escape_time_sampling_at_once(tmp_path):
    """Item 10: ``escape-time --samples 5000000`` took 3.2 GB in 30 s and ignored SIGINT. Now the cost is
    announced and the shared driver's workers pull samples one at a time, so Ctrl-C stops it within
    seconds: exit 130, the samples so far kept and counted."""
    run = Run(["escape-time", "--samples", "5000000"], cwd=tmp_path)
    wait_for(run, b"Ctrl-C stops it")  # the cost announcement: the sampling starts next
    time.sleep(5.0)
    assert run.proc.poll() is None, run.err.decode(errors="replace")
    run.proc.send_signal(signal.SIGINT)
    rc, _, err, took = finish(run, 60)
    assert rc == 130, (rc, err)
    assert took < 15, took
    assert "interrupted" in last_line(err) and "Traceback" not in err
