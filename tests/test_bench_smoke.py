"""The benchmark runs end to end on one cheap scenario and writes believable results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "contrib" / "bench" / "bench.py"


def test_quick_bench_writes_results(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--quick",
            "--scenarios",
            "native-unary@1",
            "--runs",
            "1",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (md,) = tmp_path.glob("*.md")
    (raw,) = tmp_path.glob("*.json")
    assert "native-unary" in md.read_text()
    assert "| native-unary | 1 |" in done.stdout

    data = json.loads(raw.read_text())
    assert data["meta"]["command"].startswith("python contrib/bench/bench.py --quick")
    (case,) = data["summary"]["scenarios"]
    assert (case["scenario"], case["concurrency"]) == ("native-unary", 1)
    for target in ("gpool", "floor"):
        figures = case["targets"][target]
        assert figures["errors"] == 0 and figures["invalid"] is None
        assert figures["rps"] > 50
        assert 0 < figures["p50_ms"] <= figures["p99_ms"] < 1000
        assert 0 < figures["cpu_ms_per_req"] < 50
        assert 10 < figures["rss_mb"] < 500
    assert 0.2 < case["cpu_ratio"] < 20
    (verdict,) = data["summary"]["verdicts"]
    assert verdict["target"] == "CPU ratio native-unary @1"
    # gpool wrote its request log while it was measured: the feature was on.
    (row,) = [r for r in data["runs"][0]["scenarios"] if r["target"] == "gpool"]
    logged = int(data["meta"]["request log"].split()[0].replace(",", ""))
    assert logged >= row["requests"]
