"""Random numbers of the simulator: xoshiro256** and a 256-layer ziggurat for Gaussians.

Each seed owns a xoshiro256** stream (Blackman & Vigna 2018, seeded from
``numpy.random.SeedSequence(seed)``) and draws Gaussians with a 256-layer
ziggurat (Marsaglia & Tsang 2000, 52-bit variant as in NumPy), one 64-bit
draw per Gaussian 99% of the time. A seed's numbers do not depend on how many
workers run.
"""
from __future__ import annotations

import math

import numba
import numpy as np

_U64 = np.uint64


@numba.njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << _U64(k)) | (x >> _U64(64 - k))


@numba.njit(cache=True, inline="always")
def next_u64(s):
    """Next 64-bit output of xoshiro256** with state ``s`` (4 x uint64, advanced in place)."""
    result = _rotl(s[1] * _U64(5), 7) * _U64(9)
    t = s[1] << _U64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


@numba.njit(cache=True, inline="always")
def next_uniform(s):
    """Uniform in [0, 1) with 53 random bits."""
    return float(next_u64(s) >> _U64(11)) * (1.0 / 9007199254740992.0)


def _ziggurat_tables(n: int = 256, r: float = 3.6541528853610088):
    """Marsaglia & Tsang's ziggurat for ``f(x) = exp(-x^2/2)``: ``n`` layers of equal area ``v``.

    ``x_1 = r`` (the tail starts there), ``x_0 = v/f(r)`` (the base layer with
    the tail folded in), ``f(x_{i+1}) = f(x_i) + v/x_i``, ``x_n = 0``. Returns
    ``w_i = x_i/2^52`` (52-bit integer to abscissa; i = 0..2n-1, the second half
    negated to carry the sign), ``k_i = floor(2^52 x_{i+1}/x_i)``
    (fast acceptance: the point lies inside the next layer's rectangle) and
    ``f_i = f(x_i)`` (i = 0..n).
    """
    f = lambda x: math.exp(-0.5 * x * x)  # noqa: E731
    v = r * f(r) + math.sqrt(math.pi / 2) * math.erfc(r / math.sqrt(2))
    x = np.empty(n + 1)
    x[0], x[1], x[n] = v / f(r), r, 0.0
    for i in range(1, n - 1):
        x[i + 1] = math.sqrt(-2.0 * math.log(v / x[i] + f(x[i])))
    assert abs(x[n - 1] * (1.0 - f(x[n - 1])) - v) < 1e-12  # the top layer closes
    scale = 2.0 ** 52
    w = x[:n] / scale
    w = np.concatenate([w, -w])  # index with 9 bits: layer and sign, no branch on the sign
    k = np.array([math.floor(scale * x[i + 1] / x[i]) for i in range(n)], dtype=np.uint64)
    fx = np.array([f(xi) for xi in x])
    return w, k, fx


ZIG_W, ZIG_K, ZIG_F = _ziggurat_tables()
ZIG_R = 3.6541528853610088


@numba.njit(cache=True, inline="always")
def _zig_draw(s):
    """One 64-bit draw split into the layer (8 bits), and the 52-bit abscissa with its sign bit."""
    r = next_u64(s)
    rabs = r >> _U64(12)
    return np.intp(r & _U64(255)), rabs, float(np.int64(rabs)) * ZIG_W[np.intp(r & _U64(511))]


@numba.njit(cache=True)
def _normal_slow(s, idx, x):
    """The ziggurat's rare branch (about 1% of draws): the tail (``idx = 0``) or a wedge."""
    while True:
        if idx == 0:  # tail beyond r (Marsaglia 1964)
            while True:
                xx = -math.log1p(-next_uniform(s)) / ZIG_R
                yy = -math.log1p(-next_uniform(s))
                if yy + yy > xx * xx:
                    return -(ZIG_R + xx) if x < 0.0 else ZIG_R + xx
        if ZIG_F[idx] + next_uniform(s) * (ZIG_F[idx + 1] - ZIG_F[idx]) < math.exp(-0.5 * x * x):
            return x
        idx, rabs, x = _zig_draw(s)  # rejected: a fresh draw
        if rabs < ZIG_K[idx]:
            return x


@numba.njit(cache=True, inline="always")
def next_normal(s):
    """A standard Gaussian from the xoshiro256** state ``s``: ziggurat, 256 layers.

    One 64-bit draw: 8 bits pick the layer, 1 bit the sign, 52 bits the abscissa.
    """
    idx, rabs, x = _zig_draw(s)
    if rabs < ZIG_K[idx]:
        return x
    return _normal_slow(s, idx, x)


@numba.njit(cache=True, nogil=True)
def fill_normal(s, out):
    """Fill ``out`` with standard Gaussians (ziggurat on xoshiro256** state ``s``)."""
    for i in range(out.size):
        out[i] = next_normal(s)


def rng_state(seed: int, stream: int = 0) -> np.ndarray:
    """The xoshiro256** state of ``seed`` (from ``numpy.random.SeedSequence``; never all zero).

    ``stream`` 0 drives the training (inputs, output noise); stream 1 the test
    set, so asking for a test estimate does not change the training.
    """
    ss = np.random.SeedSequence(seed) if stream == 0 else np.random.SeedSequence([seed, 0x7E57, stream])
    st = ss.generate_state(4, dtype=np.uint64)
    if not st.any():
        st[0] = 1
    return st
