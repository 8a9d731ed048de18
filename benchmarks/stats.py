"""Medians with their spread, the results table and the target ratios."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Iterable


@dataclasses.dataclass
class Summary:
    """All runs of one scenario on one backend."""

    scenario: str
    backend: str
    unit: str
    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def as_json(self) -> dict[str, object]:
        return {
            "scenario": self.scenario,
            "backend": self.backend,
            "median": self.median,
            "unit": self.unit,
            "min": min(self.values),
            "max": max(self.values),
            "runs": len(self.values),
        }


class Results:
    """Collects measurements (in run order) and skip reasons."""

    def __init__(self) -> None:
        self.summaries: dict[tuple[str, str], Summary] = {}
        self.skipped: dict[tuple[str, str], str] = {}

    def add(self, scenario: str, backend: str, value: float, unit: str) -> None:
        key = (scenario, backend)
        if key not in self.summaries:
            self.summaries[key] = Summary(scenario, backend, unit, [])
        self.summaries[key].values.append(value)

    def skip(self, scenario: str, backend: str, reason: str) -> None:
        self.skipped.setdefault((scenario, backend), reason)

    def median(self, scenario: str, backend: str) -> float | None:
        summary = self.summaries.get((scenario, backend))
        return summary.median if summary else None


def _fmt(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def table(results: Results, backends: Iterable[str]) -> str:
    """A text table: one row per scenario, one column per backend, median (min-max)."""
    columns = list(backends)
    scenarios: list[str] = []
    units: dict[str, str] = {}
    for summary in results.summaries.values():
        if summary.scenario not in scenarios:
            scenarios.append(summary.scenario)
        units[summary.scenario] = summary.unit
    rows = [["scenario", "unit", *columns]]
    for scenario in scenarios:
        row = [scenario, units[scenario]]
        for backend in columns:
            found = results.summaries.get((scenario, backend))
            if found is None:
                row.append("skipped" if (scenario, backend) in results.skipped else "-")
            else:
                lo, hi = min(found.values), max(found.values)
                row.append(f"{_fmt(found.median)} ({_fmt(lo)}-{_fmt(hi)})")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def targets(results: Results) -> list[str]:
    """The issue's targets as measured ratios in this run (``n/a`` when a side is missing)."""
    lines = []

    def ratio(label: str, a: float | None, b: float | None, goal: float) -> None:
        if a is None or b is None or b == 0:
            lines.append(f"{label}: n/a (not measured in this run)")
            return
        verdict = "met" if a / b >= goal else "MISSED"
        lines.append(f"{label}: {a / b:.2f}x (target >= {goal:g}x) {verdict}")

    for backend in ("immudb", "immudb-synced"):
        if any(key[1] == backend for key in results.summaries):
            for scenario in ("save-1", "concurrent"):
                ratio(
                    f"{backend} vs postgres, {scenario}",
                    results.median(scenario, backend),
                    results.median(scenario, "postgres"),
                    1.0,
                )
    for scenario in ("transcode", "transcode played"):
        for transcoder in ("OrjsonTranscoder", "FastOrjsonTranscoder"):
            ratio(
                f"{transcoder} vs JSONTranscoder, {scenario}",
                results.median(scenario, transcoder),
                results.median(scenario, "JSONTranscoder"),
                3.0,
            )
    for (scenario, backend), summary in results.summaries.items():
        if scenario.startswith("replay ") and summary.unit == "events/s":
            goal = {"popo": 50_000.0, "immudb": 25_000.0, "immudb-synced": 25_000.0}.get(backend)
            if goal is not None:
                verdict = "met" if summary.median >= goal else "MISSED"
                lines.append(
                    f"{scenario} on {backend}: {summary.median:,.0f} events/s "
                    f"(target >= {goal:,.0f}) {verdict}"
                )
        if scenario == "replay 1M peak RSS":
            verdict = "met" if summary.median < 300 else "MISSED"
            lines.append(
                f"{scenario} on {backend}: {summary.median:.0f} MB (target < 300 MB) {verdict}"
            )
        if scenario == "boot 1M checkpoint" and backend.startswith("immudb"):
            verdict = "met" if summary.median < 3 else "MISSED"
            lines.append(
                f"{scenario} on {backend}: {summary.median:.2f} s (target < 3 s) {verdict}"
            )
        if scenario == "subscribe-latency p99":
            verdict = "met" if summary.median < 100 else "MISSED"
            lines.append(
                f"subscribe-latency p99 on {backend}: {summary.median:.2f} ms "
                f"(target < 100 ms) {verdict}"
            )
    return lines
