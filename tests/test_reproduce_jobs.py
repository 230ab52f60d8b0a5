"""``symphase reproduce --jobs N`` (issue 21 item 1): independent figures in worker processes.

The numbers do not depend on ``--jobs`` (each figure is computed as it is alone); Ctrl-C still stops
everything within seconds, exit 130, the workers gone, no data file or temporary of the interrupted
figures left; ``--jobs`` below 1 is a usage error.
"""
import os
import shutil
import signal
import time

import numpy as np
import pytest
import xarray as xr
from test_faults import Run
from test_probe2_cli import finish, last_line, wait_for

from symphase.cli import main
from symphase.figures._reproduce import available_cores, reproduce


def _children(pid):
    """The process ids whose parent is ``pid`` (from /proc)."""
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(entry))
    return kids


def _alive(pid):
    """Whether ``pid`` is a live (not zombie) process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_jobs_do_not_change_the_numbers(tmp_path, quick_figures):
    """The same figures made one at a time and two at once: every data file equal, bit for bit, and the
    results listed in the order asked for, with their own times.

    One at a time: the quick run of the ``quick_figures`` fixture (``jobs=1``, all figures; on a copy of
    its folder ``jobs=1`` lists the three asked for, in that order, as skipped). Two at once: ``jobs=2``.

    Values: ``jobs=1`` runs in this process, with the kernels as this process compiled or loaded them, after
    whatever tests pytest-xdist ran here first; ``jobs=2`` in fresh processes that load them from the on-disk
    cache. Equal bits need every copy of a shared kernel to round alike, whichever the process loaded first:
    with the right-hand side compiled with fastmath, fig. 5's rates differed here by ~1e-16 relative, and
    this test allowed 1e-12 (tests/test_bits.py, docs/model.md §11)."""
    only = ["fig5", "fig1", "fig2"]
    shutil.copytree(quick_figures[0], tmp_path / "one")
    one = reproduce(tmp_path / "one", quick=True, only=only, jobs=1, progress=False)
    two = reproduce(tmp_path / "two", quick=True, only=only, jobs=2, progress=False)
    assert [r.name for r in one] == [r.name for r in two] == ["fig5_escape_rates", "fig1_paper_hessian_K",
                                                             "fig2_paper_hessian_tau"]
    assert all(r.status == "skipped" for r in one)
    assert all(r.status == "made" and r.seconds > 0 for r in two)
    for r in two:
        with xr.open_dataset(tmp_path / "one" / f"{r.name}.nc") as a, \
                xr.open_dataset(tmp_path / "two" / f"{r.name}.nc") as b:
            a, b = a.load(), b.load()
            assert a.attrs == b.attrs and list(a.data_vars) == list(b.data_vars)
            for name in a.data_vars:
                np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=f"{r.name}: {name}")


def test_jobs_below_one_is_a_usage_error(tmp_path, capsys):
    assert main(["reproduce", "--jobs", "0", "--out", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symphase: error: jobs must be an integer >= 1") and err.count("\n") == 1
    assert not (tmp_path / "f").exists()
    with pytest.raises(ValueError, match="jobs"):
        reproduce(tmp_path / "g", only=["fig1"], jobs=0)
    assert available_cores() >= 1


@pytest.mark.slow
def test_parallel_reproduce_stops_on_ctrl_c_with_its_workers(tmp_path):
    """Two simulating figures at once (``--jobs 2``), Ctrl-C a few seconds in (to the parent only, as
    ``kill -INT`` does; a terminal sends it to the workers too): within 15 s both are "interrupted", exit
    130, no traceback, no data file or temporary, and the worker processes are gone."""
    out = tmp_path / "figs"
    run = Run(["reproduce", "--quick", "--only", "fig3,fig4", "--jobs", "2", "--out", str(out)], cwd=tmp_path)
    wait_for(run, b"%|")
    deadline = time.monotonic() + 30
    while len(_children(run.proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = _children(run.proc.pid)
    assert len(workers) >= 2, workers
    time.sleep(3.0)  # the workers are starting or inside their figures
    run.proc.send_signal(signal.SIGINT)
    rc, stdout, err, took = finish(run, 60)
    assert rc == 130, (rc, stdout, err)
    assert took < 15, took
    assert "Traceback" not in err and "interrupted" in last_line(err)
    assert "fig3_paper_sgd               interrupted" in stdout
    assert "fig4_escape_curves           interrupted" in stdout
    assert not list(out.glob("*.nc")) and not [p for p in out.iterdir() if ".part" in p.name]
    time.sleep(0.5)
    assert not [w for w in workers if _alive(w)], workers
