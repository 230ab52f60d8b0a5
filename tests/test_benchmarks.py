"""benchmarks/run.py (issue 21 item 5): one markdown table of every benchmark, to stdout and --out.

A smoke test of the table's making on the fastest benchmark (curvature, --quick): no timing is asserted
(times depend on the machine), only that each benchmark's rows become table rows with a time.
"""
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def test_run_writes_one_markdown_table(tmp_path):
    out = tmp_path / "bench.md"
    p = subprocess.run([sys.executable, str(BENCH / "run.py"), "--quick", "--only", "bench_curvature", "--out",
                        str(out)], capture_output=True, text=True, check=False, timeout=300)
    assert p.returncode == 0, p.stderr
    text = out.read_text()
    assert text == p.stdout
    rows = [ln for ln in text.splitlines() if ln.startswith("| curvature")]
    assert len(rows) == 4, text  # K = 2, 4 x plain, exact in --quick
    for row in rows:
        time_cell = row.split("|")[3].strip()
        assert time_cell.split()[1] in ("ns", "us", "ms", "s") and float(time_cell.split()[0]) > 0, row
    assert "| benchmark | case | time | note |" in text and "load average" in text


def test_run_refuses_an_unknown_benchmark(tmp_path):
    p = subprocess.run([sys.executable, str(BENCH / "run.py"), "--only", "bench_nothing"], capture_output=True,
                       text=True, check=False, timeout=120)
    assert p.returncode == 2 and "bench_nothing" in p.stderr
    assert not p.stdout
