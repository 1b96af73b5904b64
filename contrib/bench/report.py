"""Turning the runs into medians, ratios and verdicts, written as Markdown and JSON."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from scenarios import HELD_MAX_MB, HELD_MAX_RATIO, LEAK_MAX_RSS_MB, SCENARIOS, TTFB_MAX_ADDED_MS

__all__ = ["markdown", "summarise", "write_results"]

NOISY_CORES = 0.25  # other processes' CPU (in cores) above which a figure is flagged noisy

_FIGURES = (
    "rps",
    "p50_ms",
    "p99_ms",
    "ttfb_p50_ms",
    "ttfb_p99_ms",
    "cpu_ms_per_req",
    "cpu_util",
    "rss_mb",
    "load_cpu_util",
    "other_cpu_util",
)
_HELD_FIGURES = ("idle_rss_mb", "held_rss_mb", "kb_per_stream", "held_fds", "open_seconds")


def _median(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(kept) if kept else None


def _verdict(
    name: str, value: float | None, limit: str, ok: bool, note: str = ""
) -> dict[str, Any]:
    return {"target": name, "value": value, "limit": limit, "pass": ok, "note": note}


def _scenario_summary(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_case: dict[tuple[str, int], dict[str, list[dict[str, Any]]]] = {}
    for run in runs:
        for row in run["scenarios"]:
            case = by_case.setdefault((row["scenario"], row["concurrency"]), {})
            case.setdefault(row["target"], []).append(row)
    out = []
    for (name, concurrency), targets in by_case.items():
        entry: dict[str, Any] = {"scenario": name, "concurrency": concurrency, "targets": {}}
        for target, rows in targets.items():
            figures: dict[str, Any] = {f: _median(r.get(f) for r in rows) for f in _FIGURES}
            figures["errors"] = sum(r.get("errors", 0) for r in rows)
            figures["invalid"] = next((r["invalid"] for r in rows if "invalid" in r), None)
            entry["targets"][target] = figures
        pairs = _pairs(targets)
        entry["cpu_ratios"] = [g["cpu_ms_per_req"] / f["cpu_ms_per_req"] for g, f in pairs]
        entry["cpu_ratio"] = _median(entry["cpu_ratios"])
        if SCENARIOS[name].stream:
            entry["ttfb_added_ms"] = _median(g["ttfb_p50_ms"] - f["ttfb_p50_ms"] for g, f in pairs)
        out.append(entry)
    return out


def _pairs(targets: dict[str, list[dict[str, Any]]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(gpool, floor) rows of the same run, where both were measured."""
    floors = {r["run"]: r for r in targets.get("floor", []) if "cpu_ms_per_req" in r}
    return [
        (g, floors[g["run"]])
        for g in targets.get("gpool", [])
        if "cpu_ms_per_req" in g and g["run"] in floors
    ]


def _held_summary(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    rows = [row for run in runs for row in run.get("held", [])]
    if not rows:
        return None
    summary: dict[str, Any] = {"targets": {}}
    for target in ("gpool", "floor"):
        mine = [r for r in rows if r["target"] == target]
        figures: dict[str, Any] = {f: _median(r.get(f) for r in mine) for f in _HELD_FIGURES}
        figures["wanted"] = max((r["wanted"] for r in mine), default=0)
        figures["open_while_sampled"] = min((r["open_while_sampled"] for r in mine), default=0)
        figures["errors"] = sum(r["errors"] for r in mine)
        summary["targets"][target] = figures
    ratios = []
    for run in runs:
        held = {r["target"]: r for r in run.get("held", []) if "held_rss_mb" in r}
        if "gpool" in held and "floor" in held:
            ratios.append(held["gpool"]["held_rss_mb"] / held["floor"]["held_rss_mb"])
    summary["rss_ratios"] = ratios
    summary["rss_ratio"] = _median(ratios)
    return summary


def summarise(
    runs: list[dict[str, Any]], leak: dict[str, Any] | None, failures: list[str]
) -> dict[str, Any]:
    """Medians over the runs and a pass/fail for every target of the issue."""
    scenarios = _scenario_summary(runs)
    held = _held_summary(runs)
    verdicts = []
    if failures:
        verdicts.append(
            _verdict("every run completed", len(failures), "0 failures", False, _gist(failures[0]))
        )
    for entry in scenarios:
        case = f"{entry['scenario']} @{entry['concurrency']}"
        g = entry["targets"].get("gpool", {})
        f = entry["targets"].get("floor", {})
        clean = not (g.get("errors") or f.get("errors") or g.get("invalid") or f.get("invalid"))
        note = "" if clean else "errors or invalid answers"
        noise = max(g.get("other_cpu_util") or 0.0, f.get("other_cpu_util") or 0.0)
        if clean and noise > NOISY_CORES:
            note = f"noisy: other processes used {noise:.2f} cores meanwhile"
        limit = SCENARIOS[entry["scenario"]].max_cpu_ratio
        ratio = entry["cpu_ratio"]
        ok = clean and ratio is not None and ratio <= limit
        verdicts.append(_verdict(f"CPU ratio {case}", ratio, f"≤ {limit}", ok, note))
        # Unloaded latency: at concurrency 32 the closed loop queues on the load side, so
        # TTFB there mostly measures throughput (reported, not judged).
        if "ttfb_added_ms" in entry and entry["concurrency"] == 1:
            added = entry["ttfb_added_ms"]
            ok = clean and added is not None and added <= TTFB_MAX_ADDED_MS
            verdicts.append(
                _verdict(f"TTFB added {case}", added, f"≤ {TTFB_MAX_ADDED_MS} ms", ok, note)
            )
    if held is not None:
        g = held["targets"]["gpool"]
        complete = all(
            t["open_while_sampled"] == t["wanted"] and not t["errors"]
            for t in held["targets"].values()
        )
        note = "" if complete else "not every stream was open while sampled"
        ratio = held["rss_ratio"]
        verdicts.append(
            _verdict(
                "held streams RSS ratio",
                ratio,
                f"≤ {HELD_MAX_RATIO}",
                complete and ratio is not None and ratio <= HELD_MAX_RATIO,
                note,
            )
        )
        rss = g["held_rss_mb"]
        verdicts.append(
            _verdict(
                "held streams gpool RSS",
                rss,
                f"< {HELD_MAX_MB:.0f} MB",
                complete and rss is not None and rss < HELD_MAX_MB,
                note,
            )
        )
    if leak is not None:
        note = "" if not leak["errors"] else f"{leak['errors']} errors"
        growth = leak["rss_growth_mb"]
        verdicts.append(
            _verdict(
                "leak: RSS growth",
                growth,
                f"≤ {LEAK_MAX_RSS_MB:.0f} MB",
                growth <= LEAK_MAX_RSS_MB and not leak["errors"],
                note,
            )
        )
        verdicts.append(
            _verdict(
                "leak: open fds back to baseline",
                leak["end_fds"],
                f"baseline {leak['base_fds']}, upstream pool ≤ {leak['concurrency']}",
                not leak["fd_problems"],
                "; ".join(leak["fd_problems"]),
            )
        )
    return {
        "scenarios": scenarios,
        "held": held,
        "leak": leak,
        "failures": failures,
        "verdicts": verdicts,
    }


def _gist(failure: str) -> str:
    """A failure in one line: what failed, and the last line of the log (the error)."""
    lines = failure.strip().splitlines()
    return lines[0] if len(lines) == 1 else f"{lines[0]} … {lines[-1].strip()}"


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _change(before: int, after: int) -> str:
    return f"{after - before:+d}"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def markdown(meta: dict[str, Any], summary: dict[str, Any]) -> str:
    """The results file: where and how it ran, then every figure and every verdict."""
    lines = [f"# gpool benchmark, {meta['date']} on {meta['hostname']}", ""]
    lines += [f"- **{k}**: {v}" for k, v in meta.items() if k not in ("date", "hostname")]
    lines += ["", "## gpool against the floor (medians over the runs)", ""]
    rows = []
    for e in summary["scenarios"]:
        g, f = e["targets"].get("gpool", {}), e["targets"].get("floor", {})
        rows.append(
            [
                e["scenario"],
                str(e["concurrency"]),
                f"{_fmt(g.get('cpu_ms_per_req'), 3)} / {_fmt(f.get('cpu_ms_per_req'), 3)}",
                _fmt(e["cpu_ratio"]),
                ", ".join(_fmt(r) for r in e["cpu_ratios"]),
                f"{_fmt(g.get('rps'), 0)} / {_fmt(f.get('rps'), 0)}",
                f"{_fmt(g.get('p50_ms'))} / {_fmt(f.get('p50_ms'))}",
                f"{_fmt(g.get('p99_ms'))} / {_fmt(f.get('p99_ms'))}",
                f"{_fmt(g.get('ttfb_p50_ms'))} / {_fmt(f.get('ttfb_p50_ms'))}",
                _fmt(e.get("ttfb_added_ms")),
                f"{_fmt(g.get('rss_mb'), 1)} / {_fmt(f.get('rss_mb'), 1)}",
                f"{_fmt(g.get('cpu_util'))} / {_fmt(f.get('cpu_util'))}",
                f"{_fmt(g.get('load_cpu_util'))} / {_fmt(f.get('load_cpu_util'))}",
                f"{_fmt(g.get('other_cpu_util'))} / {_fmt(f.get('other_cpu_util'))}",
                f"{g.get('errors', '–')} / {f.get('errors', '–')}"
                + (
                    f" ({g.get('invalid') or f.get('invalid')})"
                    if g.get("invalid") or f.get("invalid")
                    else ""
                ),
            ]
        )
    head = [
        "scenario",
        "conc",
        "CPU ms/req gpool / floor",
        "ratio",
        "ratio per run",
        "req/s",
        "p50 ms",
        "p99 ms",
        "TTFB p50 ms",
        "TTFB added ms",
        "RSS MB",
        "proxy CPU busy",
        "load side busy",
        "other CPU",
        "errors",
    ]
    lines += _table(head, rows)
    lines += ["", "Each cell is gpool / floor. " + _SCENARIO_NOTE, ""]
    held = summary["held"]
    if held is not None:
        g, f = held["targets"]["gpool"], held["targets"]["floor"]
        lines += ["## Held streams", ""]
        rows = [
            [
                name,
                f"{t['open_while_sampled']} / {t['wanted']}",
                _fmt(t["idle_rss_mb"], 1),
                _fmt(t["held_rss_mb"], 1),
                _fmt(t["kb_per_stream"], 1),
                _fmt(t["held_fds"], 0),
                _fmt(t["open_seconds"], 1),
                str(t["errors"]),
            ]
            for name, t in (("gpool", g), ("floor", f))
        ]
        head = [
            "target",
            "open while sampled",
            "idle RSS MB",
            "held RSS MB",
            "KB per stream",
            "fds",
            "s to open all",
            "errors",
        ]
        lines += _table(head, rows)
        ratios = ", ".join(_fmt(r) for r in held["rss_ratios"])
        lines += ["", f"RSS ratio gpool / floor: {_fmt(held['rss_ratio'])} (per run: {ratios})", ""]
    leak = summary["leak"]
    if leak is not None:
        lines += ["## Leak check (gpool)", ""]
        lines += [
            f"{leak['requests']:,} mixed requests ({leak['kinds']} kinds, concurrency "
            f"{leak['concurrency']}) in {leak['seconds']} s ({_fmt(leak['rps'], 0)} req/s), "
            f"{leak['errors']} errors, after a warm-up of {leak['warmup_requests']:,}.",
            "",
        ]
        base, end = leak["base_fd_kinds"], leak["end_fd_kinds"]
        rows = [
            [
                "RSS MB",
                _fmt(leak["base_rss_mb"], 1),
                _fmt(leak["end_rss_mb"], 1),
                _fmt(leak["rss_growth_mb"], 1),
            ],
            [
                "open fds",
                str(leak["base_fds"]),
                str(leak["end_fds"]),
                _change(leak["base_fds"], leak["end_fds"]),
            ],
        ]
        rows += [
            [
                f"… {kind.replace('_', ' ')}",
                str(base[kind]),
                str(end[kind]),
                _change(base[kind], end[kind]),
            ]
            for kind in base
        ]
        lines += _table(["", "after warm-up", "after the run", "change"], rows)
        lines += [
            "",
            f"Read {leak['settle_seconds']} s after the last request. Idle upstream keep-alive "
            "connections are a pool bounded by the concurrency, so they are judged by that "
            "bound; every other kind of fd must be back to its baseline count.",
        ]
        lines.append("")
    if summary["failures"]:
        lines += ["## Failures", ""]
        for failure in summary["failures"]:
            lines += ["```", failure, "```", ""]
    lines += ["## Targets", ""]
    rows = [
        [v["target"], _fmt(v["value"]), v["limit"], "PASS" if v["pass"] else "FAIL", v["note"]]
        for v in summary["verdicts"]
    ]
    lines += _table(["target", "measured", "limit", "verdict", "note"], rows)
    return "\n".join(lines) + "\n"


_SCENARIO_NOTE = (
    "CPU ms/req is the proxy process's utime+stime over the measured window divided by the "
    "requests completed in it; the ratio is the median over runs of gpool's figure divided "
    "by the floor's in the same run. In the OpenAI scenarios the floor forwards the "
    "equivalent native request (it cannot translate): the floor's cost of moving the same "
    "upstream answer. TTFB added is gpool's p50 time to first byte minus the floor's. "
    "Proxy CPU busy is the share of one core the proxy used; load side busy, the same for "
    "the load generator and the fake upstream together, which share one core: near 1.0 "
    "the load side, not the proxy, limits req/s (CPU ms/req stays comparable). Other CPU is "
    "what the rest of the machine used meanwhile (other processes, hypervisor steal), in "
    "cores: the noise."
)


def write_results(
    out_dir: Path,
    stem: str,
    meta: dict[str, Any],
    runs: list[dict[str, Any]],
    summary: dict[str, Any],
) -> tuple[Path, Path, str]:
    """Write ``<stem>.md`` and ``<stem>.json`` into ``out_dir``; return their paths and the text."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text = markdown(meta, summary)
    md = out_dir / f"{stem}.md"
    md.write_text(text)
    raw = out_dir / f"{stem}.json"
    data = _no_nan({"meta": meta, "summary": summary, "runs": runs})
    raw.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    return md, raw, text


def _no_nan(value: Any) -> Any:
    """JSON has no NaN: a figure that could not be measured is null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_no_nan(v) for v in value]
    return value
