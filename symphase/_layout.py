"""The one state layout: order parameters (Q, R, g) <-> a flat vector.

``y = [Q_ik for i <= k (row-major upper triangle), R_in (row-major), g_i (BN only),
v_i (learned second layer only)]``.
Storing only the upper triangle of ``Q`` keeps ``Q`` symmetric by construction.
Kernels, integrators, the simulator and the results all use this module.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np


@dataclass(frozen=True)
class StateLayout:
    """The flat state layout: indices of ``Q_ik`` (i <= k), ``R_in``, ``g_i`` and ``v_i`` in ``y``.

    ``y = [Q_ik (i <= k, upper triangle row-major), R_in (row-major), g_i (BN only),
    v_i (learned second layer only)]``, of length ``K(K+1)/2 + K M (+ K) (+ K)``
    (docs/model.md §8.1, §13). Storing ``Q`` once keeps it symmetric by construction.

    Parameters
    ----------
    K, M : int
        Student and teacher hidden units.
    has_gain : bool
        Whether the gains ``g_i`` are part of the state (BN, learned or fixed gain).
    has_v : bool
        Whether the second-layer weights ``v_i`` are part of the state (learned).

    Examples
    --------
    >>> import numpy as np
    >>> import symphase
    >>> lay = symphase.StateLayout(2, 2, has_gain=True)
    >>> lay.size, lay.labels()
    (9, ['Q_00', 'Q_01', 'Q_11', 'R_00', 'R_01', 'R_10', 'R_11', 'g_0', 'g_1'])
    >>> y = lay.pack(np.eye(2), 0.5 * np.eye(2), np.ones(2))
    >>> y
    array([1. , 0. , 1. , 0.5, 0. , 0. , 0.5, 1. , 1. ])
    >>> Q, R, g = lay.unpack(y)
    >>> bool(np.array_equal(Q, np.eye(2)))
    True
    """

    K: int
    M: int
    has_gain: bool
    has_v: bool = False

    @property
    def n_Q(self) -> int:
        """Number of stored ``Q_ik`` (i <= k): ``K(K+1)/2``."""
        return self.K * (self.K + 1) // 2

    @property
    def n_R(self) -> int:
        """Number of ``R_in``: ``K M``."""
        return self.K * self.M

    @property
    def n_g(self) -> int:
        """Number of gains ``g_i``: ``K`` with a gain, else 0."""
        return self.K if self.has_gain else 0

    @property
    def n_v(self) -> int:
        """Number of second-layer weights ``v_i`` in the state: ``K`` when learned, else 0."""
        return self.K if self.has_v else 0

    @property
    def size(self) -> int:
        """Length of the flat state: ``n_Q + n_R + n_g + n_v``."""
        return self.n_Q + self.n_R + self.n_g + self.n_v

    @property
    def Q_index(self) -> np.ndarray:
        """(K, K) int array: the flat index of ``Q_ik`` (symmetric: ``Q_ik`` and ``Q_ki`` share one)."""
        idx = np.empty((self.K, self.K), dtype=np.int64)
        n = 0
        for i in range(self.K):
            for k in range(i, self.K):
                idx[i, k] = idx[k, i] = n
                n += 1
        return idx

    @property
    def R_index(self) -> np.ndarray:
        """(K, M) int array: the flat index of ``R_in``."""
        return self.n_Q + np.arange(self.n_R).reshape(self.K, self.M)

    @property
    def g_index(self) -> np.ndarray:
        """(n_g,) int array: the flat index of ``g_i`` (empty without a gain)."""
        return self.n_Q + self.n_R + np.arange(self.n_g)

    @property
    def v_index(self) -> np.ndarray:
        """(n_v,) int array: the flat index of ``v_i`` (empty when the second layer is fixed)."""
        return self.n_Q + self.n_R + self.n_g + np.arange(self.n_v)

    def labels(self) -> list[str]:
        """Human-readable names of the flat entries.

        Returns
        -------
        list of str
            One name per entry of ``y``, e.g. ``Q_01``, ``R_10``, ``g_0`` (0-based).
        """
        out = [""] * self.size
        for i in range(self.K):
            for k in range(i, self.K):
                out[self.Q_index[i, k]] = f"Q_{i}{k}"
            for n in range(self.M):
                out[self.R_index[i, n]] = f"R_{i}{n}"
        for i in range(self.n_g):
            out[self.g_index[i]] = f"g_{i}"
        for i in range(self.n_v):
            out[self.v_index[i]] = f"v_{i}"
        return out

    def pack(self, Q, R, g=None, v=None) -> np.ndarray:
        """Flat state(s) from the order parameters (docs/model.md §8.1).

        Parameters
        ----------
        Q : array_like (..., K, K)
            Student-student overlaps (only the upper triangle is read).
        R : array_like (..., K, M)
            Student-teacher overlaps.
        g : array_like (..., K), optional
            Gains; required with a gain, ignored without.
        v : array_like (..., K), optional
            Second-layer weights; required when they are in the state, ignored otherwise.

        Returns
        -------
        ndarray (..., size)
            The flat state(s), in the dtype of the inputs.
        """
        Q = np.asarray(Q)
        R = np.asarray(R)
        iu = np.triu_indices(self.K)
        parts = [Q[..., iu[0], iu[1]], R.reshape(R.shape[:-2] + (self.n_R,))]
        if self.has_gain:
            parts.append(np.asarray(g))
        if self.has_v:
            parts.append(np.asarray(v))
        return np.concatenate(parts, axis=-1)

    def unpack(self, y):
        """The order parameters of flat state(s): the inverse of :meth:`pack`.

        Parameters
        ----------
        y : array_like (..., size)
            Flat state(s).

        Returns
        -------
        Q : ndarray (..., K, K)
            Student-student overlaps, symmetric.
        R : ndarray (..., K, M)
            Student-teacher overlaps.
        g : ndarray (..., K) or None
            None without a gain.
        """
        y = np.asarray(y)
        lead = y.shape[:-1]
        Q = y[..., self.Q_index]
        R = y[..., self.n_Q:self.n_Q + self.n_R].reshape(lead + (self.K, self.M))
        n = self.n_Q + self.n_R
        g = y[..., n:n + self.n_g].copy() if self.has_gain else None
        return Q, R, g

    def unpack_v(self, y):
        """The second-layer weights ``v`` of flat state(s), or None when they are not in the state.

        Parameters
        ----------
        y : array_like (..., size)
            Flat state(s).

        Returns
        -------
        ndarray (..., K) or None
        """
        y = np.asarray(y)
        return y[..., self.size - self.n_v:].copy() if self.has_v else None


@numba.njit(cache=True, _nrt=False)  # allocates nothing: no reference counting (symphase._kernels.NO_NRT)
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


@numba.njit(cache=True, _nrt=False)  # allocates nothing: no reference counting (symphase._kernels.NO_NRT)
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
