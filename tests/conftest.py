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
