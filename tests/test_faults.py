"""Faults of real ``symphase`` processes: Ctrl-C (SIGINT) and ``kill -9`` mid-run, with ``--out``.

Each run is a subprocess whose stderr is a pseudo-terminal, so it shows its
progress bar; the signal is sent once the bar has started (the computation is
under way, past imports and compilation), not after a guessed delay. The runs
take a few seconds uninterrupted; every wait is bounded.

* Ctrl-C: exit code 130, stderr says "interrupted" and where the partial result
  went, and the file is complete (every record, NaN/empty after where each
  seed stopped) and says it was interrupted.
* ``kill -9``: the file from before is untouched, and no temporary is left.
* Re-running the same command completes and gives bit for bit the numbers the
  interrupted run had recorded (same seed: the same random streams, the same
  steps).
"""
import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time

import numpy as np
import pandas as pd
import pytest
import xarray as xr

START_TIMEOUT = 60   # s: import, compile or load the cache, reach the first step
RUN_TIMEOUT = 120    # s: an uninterrupted run (a few seconds normally)
AFTER_START = 0.5    # s into the computation before the signal

COMMANDS = {
    # ~2 s of RK4 steps (dt = 2e-5 over 10), 11 output points
    "ode": ["ode", "--method", "rk4", "--dt", "2e-5", "--alpha-max", "10", "--points", "11", "--seed", "3"],
    # ~2 s of SGD: 2 seeds at N = 2000 up to alpha = 30 on 2 threads
    "simulate": ["simulate", "--N", "2000", "--seeds", "2", "--workers", "2", "--alpha-max", "30",
                 "--points", "21"],
}


class Run:
    """A ``python -m symphase`` process with stderr on a pseudo-terminal (drained by a thread)."""

    def __init__(self, args, cwd):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns: a bar shows
        self.proc = subprocess.Popen([sys.executable, "-m", "symphase", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        self.master = master
        self.err = b""
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self):
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            self.err += chunk

    def wait_for_bar(self):
        """Block until the progress bar is drawn (the run is computing)."""
        deadline = time.monotonic() + START_TIMEOUT
        while b"%|" not in self.err:
            if self.proc.poll() is not None:
                pytest.fail(f"the run ended before its progress bar showed: rc={self.proc.returncode}, "
                            f"stderr={self.err.decode(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail("no progress bar within the start timeout")
            time.sleep(0.02)

    def signal(self, sig):
        self.wait_for_bar()
        time.sleep(AFTER_START)
        self.proc.send_signal(sig)
        try:
            out, _ = self.proc.communicate(timeout=RUN_TIMEOUT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self.reader.join(timeout=10)
        os.close(self.master)
        return self.proc.returncode, out.decode(), self.err.decode(errors="replace")


def load(path):
    """``(status of the run, alpha, eg (seeds, n), per-seed status)`` from a saved .nc or .csv."""
    if path.suffix == ".nc":
        ds = xr.load_dataset(path, engine="h5netcdf")
        eg = np.atleast_2d(ds["eg"].values)
        per_seed = [str(s) for s in ds["seed_status"].values] if "seed_status" in ds else [ds.attrs["status"]]
        return ds.attrs["status"], ds["alpha"].values, eg, per_seed
    df = pd.read_csv(path)
    if "seed" not in df:
        df.insert(0, "seed", 0)
    seeds = list(dict.fromkeys(df["seed"]))
    alpha = df[df["seed"] == seeds[0]]["alpha"].to_numpy()
    eg = np.array([df[df["seed"] == s]["eg"].to_numpy() for s in seeds])
    per_seed = [df[df["seed"] == s]["status"].iloc[0] for s in seeds]
    status = "interrupted" if "interrupted" in per_seed else per_seed[0]
    return status, alpha, eg, per_seed


def leftovers(folder, keep):
    return sorted(p.name for p in folder.iterdir() if p.name != keep)


@pytest.mark.parametrize("suffix", [".nc", ".csv"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.slow
def test_ctrl_c_saves_partial_kill_9_leaves_nothing_rerun_agrees(tmp_path, command, suffix):
    out = tmp_path / f"run{suffix}"
    args = COMMANDS[command] + ["--out", out.name]

    # Ctrl-C mid-run: exit 130, the partial result saved completely, saying so
    rc, stdout, stderr = Run(args, tmp_path).signal(signal.SIGINT)
    assert rc == 130, (rc, stderr[-2000:])
    assert "Traceback" not in stderr
    assert "symphase: interrupted" in stderr and f"saved in {out.name}" in stderr, stderr[-2000:]
    assert "partial: interrupted" in stdout
    assert leftovers(tmp_path, out.name) == []
    status, alpha, eg, per_seed = load(out)
    assert status == "interrupted" and "interrupted" in per_seed
    recorded = np.isfinite(eg)
    assert recorded[:, 0].all()              # alpha = 0 was recorded
    assert not recorded.all(axis=None) or command == "ode"  # the simulation stopped before its end
    if command == "ode":
        assert alpha[-1] < 10.0               # stopped before alpha_max, at its own alpha
    before = out.read_bytes()

    # kill -9 mid-run: the earlier file untouched, no half-written or temporary file
    rc, _, _ = Run(args, tmp_path).signal(signal.SIGKILL)
    assert rc == -signal.SIGKILL
    assert out.read_bytes() == before
    assert leftovers(tmp_path, out.name) == []

    # the same command again: completes, and agrees with what the interrupted run recorded
    proc = subprocess.run([sys.executable, "-m", "symphase", *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert leftovers(tmp_path, out.name) == []
    status2, alpha2, eg2, per_seed2 = load(out)
    assert status2 == "completed" and set(per_seed2) == {"completed"}
    assert np.all(np.isfinite(eg2))
    if command == "ode":  # the interrupted run's output points, then its last state off the grid
        on_grid = np.isin(alpha, alpha2)
        assert on_grid[:-1].all()
        np.testing.assert_array_equal(eg[:, on_grid], eg2[:, np.isin(alpha2, alpha)])
    else:
        np.testing.assert_array_equal(alpha, alpha2)
        np.testing.assert_array_equal(eg[recorded], eg2[recorded])  # bit for bit (CSV keeps 17 digits)


def test_stale_temporary_of_a_killed_writer_is_removed(tmp_path):
    """``kill -9`` while writing leaves ``.NAME.PID.part``; checking ``--out`` again removes it, and
    keeps the temporary of a process that still runs."""
    from symphase._io import check_writable
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".run.nc.{dead.pid}.part"
    alive = tmp_path / f".run.nc.{os.getppid()}.part"
    stale.write_bytes(b"half")
    alive.write_bytes(b"half")
    check_writable(tmp_path / "run.nc", "--out")
    assert not stale.exists() and alive.exists()


# -- a read-only install: the Numba cache falls back to a writable folder ------------------

def _unprivileged_prefix(workdir):
    """A command prefix that runs this Python as a user whom file permissions bind (root ignores
    them): a real unprivileged user via ``setpriv``, else root without capabilities in a user
    namespace (``unshare --user``), else nothing if we are not root. ``None`` if none works here."""
    ro = workdir / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    candidates = [[]] if os.getuid() != 0 else [
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"], ["unshare", "--user"]]
    for prefix in candidates:
        probe = ("import sys, pathlib; sys.exit(0 if not __import__('os').access(sys.argv[1], 2) else 3)")
        try:
            proc = subprocess.run(prefix + [sys.executable, "-c", probe, str(ro)], capture_output=True, timeout=30,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if proc.returncode == 0:
            return prefix
    return None


@pytest.mark.slow
def test_read_only_install_caches_elsewhere(tmp_path_factory):
    """A copy of the package that its user cannot write to, and a home that cannot be written
    either: ``import symphase`` used to fail (Numba: "cannot cache function ...: no locator
    available"); now the kernels compile and cache in a private folder under TMPDIR. With a
    writable home, Numba's own user-wide fallback (~/.cache/numba) is left in charge."""
    import shutil
    import tempfile
    from pathlib import Path

    import symphase
    work = Path(tempfile.mkdtemp(prefix="symphase-ro-", dir="/tmp"))  # reachable by an unprivileged user
    try:
        work.chmod(0o755)
        prefix = _unprivileged_prefix(work)
        if prefix is None:
            pytest.skip("no way to run Python as a user bound by file permissions here (root, and neither "
                        "setpriv to uid 65534 nor unshare --user can run this interpreter)")
        pkg = work / "pkg"
        shutil.copytree(Path(symphase.__file__).parent, pkg / "symphase",
                        ignore=shutil.ignore_patterns("__pycache__"))
        for p in [pkg, *pkg.rglob("*")]:
            p.chmod(0o555 if p.is_dir() else 0o444)
        home, ro_home, tmp = work / "home", work / "ro_home", work / "tmp"
        for d, mode in ((home, 0o777), (ro_home, 0o555), (tmp, 0o777)):
            d.mkdir()
            d.chmod(mode)
        script = ("import symphase, symphase._numba_cache as c; print(c.LOCATION); m = symphase.Committee(2, 2); "
                  "Q, R, _, _ = symphase.random_initial(m, 50, 0); "
                  "print(symphase.generalization_error(m, (Q, R)))")  # compiles (and caches) the eps_g kernels
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(pkg), "PYTHONDONTWRITEBYTECODE": "1",
               "TMPDIR": str(tmp)}

        # writable home: Numba's user-wide cache (import only: nothing compiles)
        proc = subprocess.run(prefix + [sys.executable, "-c", "import symphase._numba_cache as c; print(c.LOCATION)"],
                              env={**env, "HOME": str(home)}, capture_output=True, text=True, timeout=60, cwd=work,
                              check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.split() == ["user"]

        # read-only home as well: the private folder under TMPDIR
        proc = subprocess.run(prefix + [sys.executable, "-c", script], env={**env, "HOME": str(ro_home)},
                              capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=work, check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        where, eg = proc.stdout.split()
        assert 0 < float(eg) < 1
        assert Path(where).parent == tmp and Path(where).name.startswith("symphase-numba-cache-")
        assert list(Path(where).rglob("*.nbi"))                # the kernels were cached there
        assert not list(pkg.rglob("__pycache__"))              # and nothing was written into the package
    finally:
        for p in [work, *work.rglob("*")]:
            if p.is_dir() and not p.is_symlink():
                p.chmod(0o755)
        shutil.rmtree(work, ignore_errors=True)
