import numpy as np
import pytest

import symphase as sp


def random_state(model, rng, N=None, scale=0.7):
    """Overlaps of random weights: a valid (positive definite) state of ``model``."""
    N = N or (model.K + model.M + 3)
    B = np.linalg.qr(rng.normal(size=(N, model.M)))[0].T
    w, V = np.linalg.eigh(model.T)
    B = (V * np.sqrt(w)) @ B
    J = scale * rng.normal(size=(model.K, N)) / np.sqrt(N) + 0.3 * rng.normal(size=(model.K, model.M)) @ B
    g = rng.uniform(0.5, 1.5, size=model.K) if model.bn else None
    return J @ J.T, J @ B.T, g


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def plateau(K):
    """Saad & Solla's symmetric fixed point (docs/model.md §4), plain, eta -> 0, tau = 1."""
    q = 1 / (2 * K - 1)
    r = 1 / np.sqrt(K * (2 * K - 1))
    return np.full((K, K), q), np.full((K, K), r)


@pytest.fixture
def committee():
    return sp.Committee


def pytest_configure(config):
    """pytest-xdist's workers start with SIGINT ignored, and a process started with SIGINT ignored keeps
    ignoring it (Python installs its KeyboardInterrupt handler only where SIGINT is not ignored). The tests
    of Ctrl-C send SIGINT to this process or to the command-line processes it starts, as a terminal
    would: give it back its default handler so that they see what a user sees."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def quick_figures(tmp_path_factory):
    """``symphase reproduce --quick --jobs 1 --out DIR`` through the command line, once per test process:
    ``(DIR, exit status, printed summary)``. One figure at a time, in this process (the default is one per
    core): tests/test_reproduce_jobs.py compares it with ``--jobs 2``. The quick figures take about a
    minute; three files check them (tests/test_reproduce.py end to end, tests/test_reproduce_jobs.py
    against ``--jobs 2``, tests/test_fig_theory.py the theory variables), and :data:`SHARED_SCOPES`
    keeps those files on one pytest-xdist worker, so they are computed once. Read only: a test that
    changes files copies DIR."""
    import contextlib
    import io

    from symphase.cli import main

    out = tmp_path_factory.mktemp("quick_figures") / "figs"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        rc = main(["reproduce", "--quick", "--jobs", "1", "--out", str(out)])
    return out, rc, printed.getvalue()


#: Test files that share a session fixture too costly to compute twice (``quick_figures``): the
#: pytest-xdist scheduler below sends each group whole to one worker.
SHARED_SCOPES = {f"tests/{name}": "quick_figures"
                 for name in ("test_reproduce.py", "test_reproduce_jobs.py", "test_fig_theory.py")}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """With pytest-xdist (``-n``), send each test file whole to one worker (xdist's ``loadfile``), and the
    files of a :data:`SHARED_SCOPES` group together, unless ``--dist`` is given.

    Why: the kernels compile on first use (Numba), and with the default per-test ``load`` both workers
    run tests of the same file at the same time, so both compile the same kernels before either has
    cached them; the tests of a file also share module-level results (``tests/test_simulate.py``'s N
    series). Measured on 2 cores, empty Numba cache, ``-m "not slow"``: 142 s of CPU against 208 s with
    ``load`` (the machine shared with other work: 95 s against 222 s wall)."""
    if any(arg == "--dist" or arg.startswith(("--dist=", "-d")) for arg in config.invocation_params.args):
        return None
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadFileScheduling

    class FileScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid):
            scope = super()._split_scope(nodeid)
            return SHARED_SCOPES.get(scope, scope)

    return FileScheduling(config, log)
