"""Every benchmark of benchmarks/ in one run, as one markdown table (issue 21 item 5).

    python benchmarks/run.py [--quick] [--out FILE] [--only NAME,...]

Each ``bench_*.py`` here has ``rows(quick) -> [(benchmark, case, seconds, note), ...]`` (and a ``main``
of its own for ``python benchmarks/bench_X.py``); this script runs them all (in the order of
:data:`ORDER`, then any others), one after the other in this process (the first-use and reproduce
benchmarks start their own processes), and prints the table, headed by the machine, the load average
and the commit, to stdout and to ``--out``. ``--quick``: fewer repeats and sizes and ``reproduce
--quick``, about a minute on an idle 2-core machine; the full run includes a full ``reproduce`` (minutes).
A benchmark that fails is a row saying so, and the others still run. Times are wall-clock: run it on an
idle machine.
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import math
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["bench_rhs", "bench_simulate", "bench_overlap_sgd", "bench_natural", "bench_curvature", "bench_first_use",
         "bench_reproduce"]


def benchmarks():
    """The benchmark modules' names: :data:`ORDER`, then any other ``bench_*.py`` here."""
    found = sorted(p.stem for p in HERE.glob("bench_*.py"))
    return [n for n in ORDER if n in found] + [n for n in found if n not in ORDER]


def fmt(seconds) -> str:
    """A time in the unit that reads best (ns, us, ms, s)."""
    if math.isnan(seconds):
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def header(quick) -> list[str]:
    try:
        commit = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=False).stdout.strip() or "unknown"
    except OSError:
        commit = "unknown"
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    now = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017 (datetime.UTC is Python >= 3.11)
    machine = (f"{now:%Y-%m-%d %H:%M} UTC, commit {commit}, "
               f"{platform.processor() or platform.machine()}, {cores} cores, Python {platform.python_version()}, "
               f"load average before {os.getloadavg()[0]:.2f}")
    return [f"# symphase benchmarks ({'quick' if quick else 'full'})", "", machine, ""]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="about a minute: fewer repeats, reproduce --quick")
    ap.add_argument("--out", type=Path, default=None, help="also write the table (markdown) to this file")
    ap.add_argument("--only", default=None, help="comma-separated benchmark names (e.g. bench_rhs,bench_curvature)")
    args = ap.parse_args(argv)
    names = benchmarks()
    if args.only is not None:
        wanted = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = [w for w in wanted if w not in names]
        if unknown or not wanted:
            ap.error(f"--only: unknown or no benchmark {unknown} (known: {', '.join(names)})")
        names = [n for n in names if n in wanted]
    sys.path.insert(0, str(HERE))
    lines = header(args.quick)
    lines += ["| benchmark | case | time | note |", "|---|---|---:|---|"]
    failed = 0
    t_all = time.perf_counter()
    for name in names:
        t0 = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            rows = importlib.import_module(name).rows(quick=args.quick)
        except Exception as exc:  # noqa: BLE001 (one benchmark failing is a row; the others still run)
            traceback.print_exc(file=sys.stderr)
            rows = [(name, "failed", float("nan"), f"{type(exc).__name__}: {exc}".replace("|", "/")[:200])]
            failed += 1
        for bench, case, seconds, note in rows:
            lines.append(f"| {bench} | {case} | {fmt(seconds)} | {note} |")
        print(f"  {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    total = f"All benchmarks: {time.perf_counter() - t_all:.0f} s; load average after {os.getloadavg()[0]:.2f}."
    lines += ["", total]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out is not None:
        tmp = args.out.with_name(f".{args.out.name}.part")
        tmp.write_text(text)
        os.replace(tmp, args.out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
