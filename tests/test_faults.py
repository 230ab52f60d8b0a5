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
    # ~2 s of SGD: 2 seeds at N = 2000 up to alpha = 60 on 2 threads
    "simulate": ["simulate", "--N", "2000", "--seeds", "2", "--workers", "2", "--alpha-max", "60",
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
                          timeout=RUN_TIMEOUT)
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
