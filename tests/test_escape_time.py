"""The distribution of plateau lengths from theory (symphase.escape_time, docs/model.md §12.1) against
the exact overlap chain (method="overlaps", the same process as SGD on the weights).

Plain K = M = 2, eta = 1, N = 1000, the random start: 150 theory samples (seeds 0..149) against 150
exact runs (seeds 5000..5149) with escape read at the same threshold on a grid of step 0.25. The mean
must agree within 5 % or 3 standard errors of the difference (whichever is larger), the standard
deviation within 20 % (its standard error from 150 samples is about 6 %). Measured: 98.6 and 98.6,
std 16.1 against 17.6.

The chain runs every seed to 1.3 x the theory's mean and only the seeds not escaped by then on to
``alpha_max`` (``chain_escape_times``: from their overlaps, with a fresh stream; the chain is Markov in the
overlaps). Measured against running every seed to ``alpha_max``: K = 2 mean 98.55 against 98.56 (s.e. 1.44),
std 17.58 against 17.61; K = 3 78.47 against 78.56 (s.e. 2.3), std 25.0 against 25.5; the two tests take
29 s of CPU instead of 70 s.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import symphase as sp
from symphase._escape import random_start_overlaps


def chain_escape_times(model, N, eta, level, seeds, alpha_max, start="random", first=None):
    """Escape times of the exact chain (eps_g below ``level``, read on a grid of step 0.25) up to
    ``alpha_max``. All seeds run to ``first`` (default ``alpha_max``); each seed not escaped by then
    goes on from its overlaps at ``first`` with a fresh stream (seed + 10^7) up to ``alpha_max``. The
    chain is Markov in the overlaps, so this is the same process in distribution; it spares running
    the escaped seeds long past their escape."""
    step = 0.25
    alpha_max = float(np.ceil(alpha_max / step) * step)
    first = alpha_max if first is None else min(alpha_max, float(np.ceil(first / step) * step))
    seeds = list(seeds)
    o = sp.simulate(model, N, eta, first, seeds=seeds, alphas=np.arange(0.0, first + step / 2, step),
                    method="overlaps", start=start)
    out = []
    for j, e in enumerate(o.eg):
        if np.any(e < level):
            out.append(o.alpha[np.argmax(e < level)])
        elif first >= alpha_max or not np.isfinite(e[-1]):
            out.append(np.nan)
        else:
            rest = alpha_max - first
            c = sp.simulate(model, N, eta, rest, seeds=[seeds[j] + 10**7], method="overlaps",
                            alphas=np.arange(0.0, rest + step / 2, step), start=(o.Q[j, -1], o.R[j, -1]))
            e2 = c.eg[0]
            out.append(first + c.alpha[np.argmax(e2 < level)] if np.any(e2 < level) else np.nan)
    return np.array(out)


@pytest.mark.slow
def test_escape_time_from_the_random_start_matches_the_exact_chain():
    model = sp.Committee(2, 2)
    et = sp.escape_time(model, 1000, 1.0, samples=150)
    assert et.status == "completed" and np.all(np.isfinite(et.samples))
    ch = chain_escape_times(model, 1000, 1.0, et.level, range(5000, 5150), 200.0, first=1.3 * et.mean)
    ch = ch[np.isfinite(ch)]
    se = np.sqrt(et.std**2 / et.samples.size + ch.var(ddof=1) / ch.size)
    assert abs(et.mean - ch.mean()) < max(0.05 * ch.mean(), 3 * se)
    assert abs(et.std / ch.std(ddof=1) - 1) < 0.2


@pytest.mark.slow
def test_escape_time_from_the_plateau_K3():
    """Plain K = M = 3, eta = 1, N = 1000, from the fixed point with the asymmetry of a random start
    (near_fixed_point, the same seeds on both sides, 120 each): mean within 5 % or 3 s.e., std within 20 %."""
    model = sp.Committee(3, 3)
    fp = sp.symmetric_fixed_point(model)
    et = sp.escape_time(model, 1000, 1.0, start=fp, samples=120)
    # simulate's start=fp: near_fixed_point(fp, N, seed) per seed, as escape_time
    ch = chain_escape_times(model, 1000, 1.0, et.level, range(120), float(np.nanmax(et.samples)) * 1.5,
                            start=fp, first=1.3 * et.mean)
    assert np.mean(np.isfinite(ch)) > 0.95
    ch = ch[np.isfinite(ch)]
    se = np.sqrt(et.std**2 / et.samples.size + ch.var(ddof=1) / ch.size)
    assert abs(et.mean - ch.mean()) < max(0.05 * ch.mean(), 3 * se)
    assert abs(et.std / ch.std(ddof=1) - 1) < 0.2


def test_random_start_overlaps_are_the_random_initial_ensemble():
    """Q, R drawn in overlap space against the overlaps of drawn weights (random_initial): means and variances
    of every entry within 5 standard errors (20,000 draws each)."""
    model = sp.Committee(2, 3)
    N, n = 30, 20_000
    rng = np.random.default_rng(1)
    a = np.array([model.layout.pack(*random_start_overlaps(model, N, rng)) for _ in range(n)])
    b = np.array([model.layout.pack(*sp.random_initial(model, N, s)[:2]) for s in range(n)])
    z = (a.mean(0) - b.mean(0)) / np.sqrt(a.var(0) / n + b.var(0) / n)
    assert np.max(np.abs(z)) < 5
    da, db = (a - a.mean(0)) ** 2, (b - b.mean(0)) ** 2
    z = (da.mean(0) - db.mean(0)) / np.sqrt(da.var(0) / n + db.var(0) / n)
    assert np.max(np.abs(z)) < 5


@pytest.mark.slow
def test_seconds_at_a_million_inputs_deterministic_and_the_protocol():
    model = sp.Committee(2, 2)
    a = sp.escape_time(model, 10**6, 1.0, samples=8, workers=1)
    b = sp.escape_time(model, 10**6, 1.0, samples=8, workers=2)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert a.mean > 100 and "diffusion approximation" in a.how
    assert float(a.quantile(0.0)) == np.min(a.samples)
    json.dumps(a.to_dict(), allow_nan=False)
    assert a.to_xarray()["escape_alpha"].size == 8 and repr(a).startswith("EscapeTime(")


def test_bad_input():
    model = sp.Committee(2, 2)
    with pytest.raises(ValueError, match="^N must be an integer >= 4"):
        sp.escape_time(model, 3, 1.0)
    with pytest.raises(ValueError, match="^threshold must be below the start's eps_g"):
        sp.escape_time(model, 1000, 1.0, threshold=0.9, samples=2)
    with pytest.raises(ValueError, match="^start must be"):
        sp.escape_time(model, 1000, 1.0, start="plateau", samples=2)
    with pytest.raises(ValueError, match="^fraction must be"):
        sp.escape_time(model, 1000, 1.0, fraction=1.5, samples=2)
    with pytest.raises(ValueError, match="^samples must be"):
        sp.escape_time(model, 1000, 1.0, samples=1)


def test_cli(capsys):
    from symphase.cli import main
    from symphase.cli.common import ETA_DEFAULT
    assert main(["escape-time", "--N", "100000", "--samples", "4", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    api = sp.escape_time(sp.Committee(2, 2), 100000, ETA_DEFAULT, samples=4)  # --eta's default, as every command
    assert d["samples"] == api.samples.tolist()
    assert main(["escape-time", "--threshold", "0.9", "--samples", "3"]) == 2


@pytest.mark.slow
def test_ln_N_slope_from_the_random_start_is_set_by_the_unspecialised_plateau():
    """Finding (README, docs/model.md §12.2): from a random start (plain K = M = 2, eta = 1) SGD reaches the
    symmetric fixed point where the students have *not* coincided (C < Q; the exactly symmetric ODE from
    Q = I, R = 0 ends there), whose escape rate lambda_u = 0.0591 is smaller than the 0.0748 of the C = Q
    point. The escape time from the random ensemble then grows like ln N / (2 lambda_u) = 8.45 ln N:
    escape_time at N = 10^4 and 10^6 (100 samples each, seeds 0..99; s.e. of the slope about 6 %) must
    give a slope within 15 % of it."""
    from scipy.optimize import root

    from symphase._fixedpoint import symmetric_state
    model = sp.Committee(2, 2)
    # the symmetric ODE from the ensemble's mean approaches the point; the reduced rates (symmetric by
    # construction: rounding cannot trigger the unstable, specialising mode) pin it to 1e-12
    ode = sp.integrate(model, 1.0, 300.0, start=(np.eye(2), np.zeros((2, 2))), eg_tol=0.0)
    x0 = [ode.Q[-1][0, 0], ode.Q[-1][0, 1], ode.R[-1][0, 0], ode.R[-1][0, 1]]
    sol = root(lambda x: list(sp.reduced_rhs(model, *x, eta=1.0).values()), x0, tol=1e-14)
    Q, C, R, S = sol.x
    y = symmetric_state(model, Q, C, R, S)
    assert np.max(np.abs(model.system.rhs(y, 1.0))) < 1e-10         # a fixed point of the full ODE ...
    assert C < Q - 0.05 and abs(R - S) < 1e-8                        # ... with C < Q, R = S
    lam_u = float(np.max(np.linalg.eigvals(model.system.jacobian(y, 1.0)).real))
    assert abs(lam_u - 0.0591) < 5e-4
    lam_c = sp.symmetric_fixed_point(model, 1.0).escape_rate
    assert lam_u < 0.85 * lam_c
    a = sp.escape_time(model, 10**4, 1.0, samples=100)
    b = sp.escape_time(model, 10**6, 1.0, samples=100)
    slope = (b.mean - a.mean) / np.log(100.0)
    assert abs(slope * 2 * lam_u - 1) < 0.15, (slope, 1 / (2 * lam_u))


def test_failed_and_interrupted_samples_are_said_not_hidden(monkeypatch):
    """A sample whose state leaves the valid overlaps is not counted as 'did not escape': the status is
    'diverged' and the message says how many; Ctrl-C keeps the samples finished so far ('interrupted')."""
    from symphase import _fluctuations
    model = sp.Committee(2, 2)
    real = _fluctuations.sde_example_steps
    monkeypatch.setattr(_fluctuations, "sde_example_steps", lambda *a: 0)
    res = sp.escape_time(model, 1000, 1.0, samples=3, workers=1)
    assert res.status == "diverged" and "3 left the valid overlaps" in res.message and np.all(np.isnan(res.samples))
    calls = []

    def interrupt_later(*a):
        calls.append(1)
        if len(calls) > 500:   # one sample escapes after about 400 calls
            raise KeyboardInterrupt
        return real(*a)
    monkeypatch.setattr(_fluctuations, "sde_example_steps", interrupt_later)
    res = sp.escape_time(model, 1000, 1.0, samples=4, workers=1)
    assert res.status == "interrupted" and "interrupted" in res.message
    assert np.sum(np.isfinite(res.samples)) >= 1   # the samples finished before Ctrl-C are kept


# --- issue 22 item 4: statuses, quantiles and exit codes -----------------------------------------
def test_no_escape_is_failed_not_completed_with_a_nan_mean():
    """0 of 3 escaped by alpha_max = 1: it was 'completed' with a NaN mean, and raise_for_status passed."""
    res = sp.escape_time(sp.Committee(2, 2), 1000, 1.0, samples=3, alpha_max=1, workers=1)
    assert res.status == "failed" and not res.success
    assert res.message.startswith("0 of 3 samples escaped by alpha = 1;") and "raise alpha_max" in res.message
    assert np.isnan(res.mean) and np.all(np.isnan(res.samples)) and res.alpha_max == 1.0
    with pytest.raises(sp.SymphaseError, match="0 of 3 samples escaped"):
        res.raise_for_status()
    assert np.all(res.quantile([0.0, 0.5, 1.0]) == np.inf)


def test_quantiles_count_missing_escapes_as_later_than_all_never_nan():
    """Sorted samples 1, 2, 3, inf, inf (two did not escape): linear interpolation at q (n - 1) gives the
    escapes themselves at 0, 1/4, 1/2, and inf beyond; numpy alone gave NaN (inf - inf, 0 inf) with a
    RuntimeWarning. Between escapes the numbers are numpy's, bit for bit."""
    import warnings

    from symphase._escape import EscapeTime
    from symphase._results import Status
    res = EscapeTime(sp.Committee(2, 2), 100, 1.0, np.array([3.0, np.nan, 1.0, 2.0, np.nan]), 0.01, "",
                     Status.COMPLETED, "", alpha_max=10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = res.quantile([0.0, 0.25, 0.5, 0.6, 0.75, 0.9, 1.0])
        assert got.tolist() == [1.0, 2.0, 3.0, np.inf, np.inf, np.inf, np.inf]
        assert res.quantile(0.5) == 3.0 and np.ndim(res.quantile(0.5)) == 0
        assert res.quantile(0.3) == np.quantile([1.0, 2.0, 3.0, 5.0, 6.0], 0.3)  # s[1] and s[2] only
    with pytest.raises(ValueError, match="^q must be in"):
        res.quantile(float("nan"))


def _last_line(out):
    return out.strip().splitlines()[-1]


def test_cli_exit_codes_and_quantiles_beyond_the_escapes(capsys):
    """Diverged samples exit 1 (was 0); no escape exits 1 and prints '> alpha_max' (was nan), also as JSON."""
    from symphase.cli import main
    rc = main(["escape-time", "--samples", "4", "--N", "4", "--workers", "1"])
    out, err = capsys.readouterr()
    assert rc == 1 and "# status: diverged: 0 of 4 samples escaped" in out
    assert err.strip().startswith("symphase: failed: diverged: 0 of 4") and len(err.strip().splitlines()) == 1
    assert "nan" not in _last_line(out).lower() and "mean none, std none" in _last_line(out)
    rc = main(["escape-time", "--samples", "3", "--N", "500", "--alpha-max", "1", "--workers", "1"])
    out, err = capsys.readouterr()
    assert rc == 1 and _last_line(out).endswith("10/50/90% quantiles > 1 > 1 > 1")
    assert "nan" not in _last_line(out).lower() and "symphase: failed: 0 of 3" in err
    rc = main(["escape-time", "--samples", "3", "--N", "500", "--alpha-max", "1", "--workers", "1", "--json"])
    d = json.loads(capsys.readouterr().out)
    assert rc == 1 and d["status"] == "failed" and d["mean"] is None and d["alpha_max"] == 1.0
    assert main(["escape-time", "--g0", "1,1"]) == 2  # gains of a start that was not given


def test_cli_ctrl_c_exits_130_with_the_samples_so_far_also_as_json(monkeypatch, capsys):
    """Ctrl-C ('2 were interrupted') exited 0, with --json too."""
    from symphase import _fluctuations
    from symphase.cli import main
    real = _fluctuations.sde_example_steps
    calls = []

    def interrupt_later(*a):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a)
    monkeypatch.setattr(_fluctuations, "sde_example_steps", interrupt_later)
    rc = main(["escape-time", "--samples", "3", "--N", "500", "--alpha-max", "50", "--workers", "1", "--json"])
    out, err = capsys.readouterr()
    d = json.loads(out)
    assert rc == 130 and d["status"] == "interrupted" and "3 were interrupted" in d["message"]
    assert err.startswith("symphase: interrupted:")
    calls.clear()
    rc = main(["escape-time", "--samples", "3", "--N", "500", "--alpha-max", "50", "--workers", "1"])
    out, err = capsys.readouterr()
    assert rc == 130 and "# status: interrupted" in out and "nan" not in _last_line(out).lower()


def test_ctrl_c_of_a_real_process_exits_130_and_prints_what_it_has(tmp_path):
    """SIGINT to a running ``symphase escape-time`` (stderr on a pseudo-terminal, so its progress bar
    shows; the signal follows the bar): exit 130, the samples finished so far printed with status
    interrupted, no traceback. Every wait is bounded (60 s to start, 120 s to end)."""
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

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns: a bar shows
    proc = subprocess.Popen([sys.executable, "-m", "symphase", "escape-time", "--N", "1000000", "--samples", "400",
                             "--workers", "2", "--alpha-max", "3000"], cwd=tmp_path, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    err = bytearray()

    def drain():
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return
            if not chunk:
                return
            err.extend(chunk)
    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while b"%|" not in err:
            assert proc.poll() is None, f"ended before its bar: rc={proc.returncode}, {bytes(err)[-2000:]!r}"
            assert time.monotonic() < deadline, "no progress bar within 60 s"
            time.sleep(0.02)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=10)
    os.close(master)
    text, err = out.decode(), bytes(err).decode(errors="replace")
    assert proc.returncode == 130, (proc.returncode, err[-2000:])
    assert "Traceback" not in err and "symphase: interrupted:" in err
    assert "# status: interrupted:" in text and "were interrupted" in text
    assert "nan" not in _last_line(text).lower()
