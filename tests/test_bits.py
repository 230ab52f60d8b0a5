"""The same seed gives the same bits in every process, whatever Numba's cache holds.

Numba links a copy of every callee into each kernel that calls it and LLVM optimises each copy again
in its caller's module; at run time a call to a shared kernel lands on whichever copy the process
compiled or loaded first. Under fastmath the copies rounded differently, so the SDE of the same seed
differed by about 1e-16 between the process that compiled its kernels and the next one, which loaded
them from the cache (measured with the right-hand side compiled with fastmath, as it was; docs/model.md
§11). No kernel is compiled with fastmath now, and every copy gives the same bits: this checks it
end to end, in three processes sharing one empty cache directory.
"""
from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = r"""
import hashlib, sys
import numpy as np
import symphase as sp
if sys.argv[1] == "rhs-first":  # load the right-hand side on its own before any kernel that calls it
    from symphase import _kernels
    m = sp.Committee(2, 2)
    y = m.system.state(*sp.random_initial(m, 100, 1)[:2])
    _kernels.rhs(y, np.empty_like(y), m.system.args(0.5))
model = sp.Committee(2, 2, tau=1.3)
r = sp.simulate(model, 60, 0.5, 8.0, seeds=3, method="sde", workers=1)   # the SDE's drift calls the rhs
o = sp.integrate(model, 0.5, 20.0, start=sp.random_initial(model, 100, 1)[:2], method="rk4")
print(hashlib.sha256(np.concatenate([r.Q.ravel(), r.eg.ravel(), o.eg]).tobytes()).hexdigest())
"""


def test_a_cached_kernel_gives_the_bits_of_the_freshly_compiled_one(tmp_path):
    """Compiled in the first process, loaded from the cache in the second, loaded after the right-hand side
    in the third: one SDE run and one ODE run give the same bits in all three (exact equality)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}

    def run(order):
        p = subprocess.run([sys.executable, "-c", SCRIPT, order], env=env, capture_output=True, text=True,
                           timeout=300)
        assert p.returncode == 0, p.stderr[-2000:]
        return p.stdout.strip()

    compiled = run("plain")
    assert any((tmp_path / "numba-cache").rglob("*.nbi")), "the first process did not fill the cache"
    assert run("plain") == compiled
    assert run("rhs-first") == compiled
