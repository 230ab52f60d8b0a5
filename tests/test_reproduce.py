"""``symphase reproduce --quick`` end to end: every expected file, finite numbers, skip and redo."""
import shutil

import numpy as np
import pytest
import xarray as xr

from symphase.cli import main
from symphase.figures import FIGURES
from symphase.figures._reproduce import SUFFIXES


@pytest.mark.slow
def test_quick_reproduce_end_to_end(tmp_path, capsys, quick_figures):
    """``reproduce --quick`` (the run of the ``quick_figures`` fixture, shared with tests/test_fig_theory.py and
    tests/test_reproduce_jobs.py), then skip, --force and --replot on a copy of its folder."""
    made, rc, text = quick_figures
    assert rc == 0
    out = tmp_path / "figs"
    shutil.copytree(made, out)
    for name in FIGURES:
        for suffix in SUFFIXES:
            path = out / f"{name}{suffix}"
            assert path.exists() and path.stat().st_size > 0, path
        with xr.open_dataset(out / f"{name}.nc") as ds:
            assert ds.attrs["complete"] == 1 and ds.attrs["quick"] == 1
            for var in ds.data_vars:
                vals = ds[var].values
                if vals.dtype.kind == "f" and not ds[var].attrs.get("nan_means"):
                    assert np.all(np.isfinite(vals)), (name, var)
        assert name in text
    assert not list(out.glob("*.part*"))
    # a second run skips what is complete; --force redoes it
    assert main(["reproduce", "--quick", "--out", str(out), "--only", "fig1"]) == 0
    assert "skipped" in capsys.readouterr().out
    assert main(["reproduce", "--quick", "--out", str(out), "--only", "fig1", "--force"]) == 0
    assert "made" in capsys.readouterr().out
    png = out / "fig6_escape_time_lnN.png"
    png.unlink()
    assert main(["reproduce", "--quick", "--out", str(out), "--only", "fig6", "--replot"]) == 0
    assert "replotted" in capsys.readouterr().out and png.exists()


def test_unknown_figure_is_a_usage_error(tmp_path, capsys):
    assert main(["reproduce", "--only", "fig99", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("symphase: error: only")
