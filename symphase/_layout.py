"""The one state layout: order parameters (Q, R, g) <-> a flat vector.

``y = [Q_ik for i <= k (row-major upper triangle), R_in (row-major), g_i (BN only)]``.
Storing only the upper triangle of ``Q`` keeps ``Q`` symmetric by construction.
Kernels, integrators, the simulator and the results all use this module.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np


@dataclass(frozen=True)
class StateLayout:
    """Flat indices of ``Q_ik`` (i <= k), ``R_in`` and ``g_i`` in the state vector."""

    K: int
    M: int
    has_gain: bool

    @property
    def n_Q(self) -> int:
        return self.K * (self.K + 1) // 2

    @property
    def n_R(self) -> int:
        return self.K * self.M

    @property
    def n_g(self) -> int:
        return self.K if self.has_gain else 0

    @property
    def size(self) -> int:
        return self.n_Q + self.n_R + self.n_g

    @property
    def Q_index(self) -> np.ndarray:
        """(K, K) array: the flat index of ``Q_ik`` (symmetric)."""
        idx = np.empty((self.K, self.K), dtype=np.int64)
        n = 0
        for i in range(self.K):
            for k in range(i, self.K):
                idx[i, k] = idx[k, i] = n
                n += 1
        return idx

    @property
    def R_index(self) -> np.ndarray:
        return self.n_Q + np.arange(self.n_R).reshape(self.K, self.M)

    @property
    def g_index(self) -> np.ndarray:
        return self.n_Q + self.n_R + np.arange(self.n_g)

    def labels(self) -> list[str]:
        """Human-readable names of the flat entries, e.g. ``Q_01``, ``R_10``, ``g_0``."""
        out = [""] * self.size
        for i in range(self.K):
            for k in range(i, self.K):
                out[self.Q_index[i, k]] = f"Q_{i}{k}"
            for n in range(self.M):
                out[self.R_index[i, n]] = f"R_{i}{n}"
        for i in range(self.n_g):
            out[self.g_index[i]] = f"g_{i}"
        return out

    def pack(self, Q, R, g=None) -> np.ndarray:
        """Flat state(s) from ``Q`` (..., K, K), ``R`` (..., K, M), ``g`` (..., K)."""
        Q = np.asarray(Q)
        R = np.asarray(R)
        iu = np.triu_indices(self.K)
        parts = [Q[..., iu[0], iu[1]], R.reshape(R.shape[:-2] + (self.n_R,))]
        if self.has_gain:
            parts.append(np.asarray(g))
        return np.concatenate(parts, axis=-1)

    def unpack(self, y):
        """``(Q, R, g)`` from flat state(s) y (..., size); ``g`` is None without a gain."""
        y = np.asarray(y)
        lead = y.shape[:-1]
        Q = y[..., self.Q_index]
        R = y[..., self.n_Q:self.n_Q + self.n_R].reshape(lead + (self.K, self.M))
        g = y[..., self.n_Q + self.n_R:].copy() if self.has_gain else None
        return Q, R, g


@numba.njit(cache=True)
def unpack_into(y, Q, R, g, has_gain):
    """Kernel form of :meth:`StateLayout.unpack`: writes into ``Q``, ``R``, ``g``."""
    K, M = R.shape
    n = 0
    for i in range(K):
        for k in range(i, K):
            Q[i, k] = Q[k, i] = y[n]
            n += 1
    for i in range(K):
        for m in range(M):
            R[i, m] = y[n]
            n += 1
    for i in range(K):
        if has_gain:
            g[i] = y[n]
            n += 1
        else:
            g[i] = 1.0


@numba.njit(cache=True)
def pack_into(Q, R, g, has_gain, y):
    """Kernel form of :meth:`StateLayout.pack`: writes ``(Q, R, g)`` into ``y``."""
    K, M = R.shape
    n = 0
    for i in range(K):
        for k in range(i, K):
            y[n] = Q[i, k]
            n += 1
    for i in range(K):
        for m in range(M):
            y[n] = R[i, m]
            n += 1
    if has_gain:
        for i in range(K):
            y[n] = g[i]
            n += 1
