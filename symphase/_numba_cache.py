"""Where Numba caches the compiled kernels: a read-only install must still work.

Every kernel is compiled with ``cache=True``. Numba looks for a writable
folder, in order: ``NUMBA_CACHE_DIR`` if set; ``__pycache__`` next to the
module (inside the installed package); the user-wide cache
(``~/.cache/numba``, ``XDG_CACHE_HOME``). When none is writable (a
site-packages owned by another user and a read-only or missing home, as for
service accounts and some containers) Numba raises ``RuntimeError: cannot cache
function ...: no locator available`` while the package is imported.

:func:`configure`, run once when ``symphase`` is imported (before any kernel is
defined), leaves Numba's choice alone when one of those folders is writable,
and otherwise points ``numba.config.CACHE_DIR`` at a private folder under the
temporary directory (``$TMPDIR/symphase-numba-cache-UID``, mode 0700, owned by
this user), so the package imports, compiles once and caches there.
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

#: The package folder: Numba's in-tree cache is ``__pycache__`` in it and in ``_generated``.
PACKAGE = Path(__file__).resolve().parent


def writable(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (made if missing), tested by doing it: this
    holds for root, read-only mounts and ACLs alike."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
        return True
    except OSError:
        return False


def user_cache_dir() -> Path:
    """Numba's user-wide cache folder (what its ``UserWideCacheLocator`` uses)."""
    from numba.misc.appdirs import AppDirs
    return Path(AppDirs(appname="numba", appauthor=False).user_cache_dir)


def private_dir() -> Path | None:
    """``$TMPDIR/symphase-numba-cache-UID``: made with mode 0700; ``None`` if it cannot be made or
    belongs to someone else (another user could have planted compiled code there)."""
    path = Path(tempfile.gettempdir()) / f"symphase-numba-cache-{os.getuid()}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        st = path.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        return None
    return path if writable(path) else None


def configure() -> str:
    """Choose the cache folder before any kernel is defined; returns which: ``"NUMBA_CACHE_DIR"``,
    ``"package"``, ``"user"``, or the private folder's path (``"none"`` if nothing is writable:
    Numba will then fail to cache, and says so)."""
    from numba.core import config

    if config.CACHE_DIR:
        return "NUMBA_CACHE_DIR"
    if writable(PACKAGE / "__pycache__") and writable(PACKAGE / "_generated" / "__pycache__"):
        return "package"
    if writable(user_cache_dir()):
        return "user"
    path = private_dir()
    if path is None:
        return "none"
    config.CACHE_DIR = str(path)
    return str(path)


LOCATION = configure()
