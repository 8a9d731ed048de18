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


#: Column headings that differ from the backend's name: the unsynced immudb is a side
#: column, never to be mistaken for the durable one.
LABELS = {"immudb": "immudb UNSYNCED", "immudb-synced": "immudb-synced"}

#: Units where a smaller figure is better (ratios are inverted for them).
LOWER_IS_BETTER = frozenset({"ms", "MB"})

DURABLE = "immudb-synced"
BASELINE = "postgres"

#: Issue "Durable speed" targets for immudb-synced / postgres, per scenario.
DURABLE_TARGETS = {
    "save-1": 1.2,
    "concurrent": 1.5,
    "get-100": 1.5,
    "notifications": 1.5,
    "concurrent-processes": 1.0,
}


def _render(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _scenarios(results: Results) -> tuple[list[str], dict[str, str]]:
    scenarios: list[str] = []
    units: dict[str, str] = {}
    for summary in results.summaries.values():
        if summary.scenario not in scenarios:
            scenarios.append(summary.scenario)
        units[summary.scenario] = summary.unit
    return scenarios, units


def durable_ratio(results: Results, scenario: str) -> float | None:
    """immudb-synced / postgres for ``scenario``, so that > 1 means immudb is better.

    For units where smaller is better (ms, MB) the ratio is postgres / immudb-synced.
    None when either side was not measured.
    """
    ours = results.summaries.get((scenario, DURABLE))
    theirs = results.summaries.get((scenario, BASELINE))
    if ours is None or theirs is None or ours.median == 0 or theirs.median == 0:
        return None
    if ours.unit in LOWER_IS_BETTER:
        return theirs.median / ours.median
    return ours.median / theirs.median


def durable_table(results: Results) -> str | None:
    """The headline: immudb-synced against postgres (both flush every commit), with ratios.

    One row per scenario measured on both; ``ratio`` > 1 means immudb-synced is
    better (faster, or smaller for ms and MB). None when either side is missing.
    """
    scenarios, units = _scenarios(results)
    rows = [["scenario", "unit", DURABLE, BASELINE, "ratio", "target"]]
    for scenario in scenarios:
        ratio = durable_ratio(results, scenario)
        if ratio is None:
            continue
        ours = results.summaries[(scenario, DURABLE)]
        theirs = results.summaries[(scenario, BASELINE)]
        goal = DURABLE_TARGETS.get(scenario)
        verdict = "" if goal is None else f">= {goal:g}x " + ("met" if ratio >= goal else "MISSED")
        rows.append(
            [
                scenario,
                units[scenario],
                _cell(ours),
                _cell(theirs),
                f"{ratio:.2f}x",
                verdict,
            ]
        )
    if len(rows) == 1:
        return None
    return _render(rows)


def _cell(summary: Summary) -> str:
    lo, hi = min(summary.values), max(summary.values)
    return f"{_fmt(summary.median)} ({_fmt(lo)}-{_fmt(hi)})"


def table(results: Results, backends: Iterable[str]) -> str:
    """A text table: one row per scenario, one column per backend, median (min-max)."""
    columns = list(backends)
    scenarios, units = _scenarios(results)
    rows = [["scenario", "unit", *(LABELS.get(c, c) for c in columns)]]
    for scenario in scenarios:
        row = [scenario, units[scenario]]
        for backend in columns:
            found = results.summaries.get((scenario, backend))
            if found is None:
                row.append("skipped" if (scenario, backend) in results.skipped else "-")
            else:
                row.append(_cell(found))
        rows.append(row)
    return _render(rows)


def targets(results: Results) -> list[str]:
    """The issue's targets as measured ratios in this run (``n/a`` when a side is missing)."""
    lines = []

    def ratio(label: str, a: float | None, b: float | None, goal: float) -> None:
        if a is None or b is None or b == 0:
            lines.append(f"{label}: n/a (not measured in this run)")
            return
        verdict = "met" if a / b >= goal else "MISSED"
        lines.append(f"{label}: {a / b:.2f}x (target >= {goal:g}x) {verdict}")

    for scenario, goal in DURABLE_TARGETS.items():
        ratio(
            f"{DURABLE} vs {BASELINE}, {scenario}"
            + (" (time, inverted)" if scenario == "get-100" else ""),
            *_oriented(results, scenario, DURABLE, BASELINE),
            goal,
        )
    ratio(
        f"immudb UNSYNCED vs {BASELINE}, concurrent",
        results.median("concurrent", "immudb"),
        results.median("concurrent", BASELINE),
        2.0,
    )
    delivered = results.median("game-delivery", DURABLE)
    if delivered is not None:
        verdict = "met" if delivered >= 2000 else "MISSED"
        lines.append(
            f"game-delivery on {DURABLE}: {delivered:,.0f} commands/s (target >= 2,000) {verdict}"
        )
    for backend in ("immudb", DURABLE):
        done = results.median("verify", backend)
        if done is not None:
            lines.append(f"verify on {LABELS[backend]}: {done:,.0f} events/s (reported, no target)")
    for backend in ("immudb", DURABLE):
        p99 = results.median("replicated lag p99, async replica", backend)
        if p99 is not None:
            verdict = "met" if p99 < 100 else "MISSED"
            lines.append(
                f"async replica lag p99 under concurrent on {LABELS[backend]}: {p99:,.1f} ms "
                f"(target < 100 ms) {verdict}"
            )
        kept = results.median("replicated concurrent, sync / none", backend)
        if kept:
            verdict = "met" if 1 / kept <= 2.0 else "MISSED"
            lines.append(
                f"sync replication cost on concurrent on {LABELS[backend]}: {1 / kept:.2f}x "
                f"slower (target <= 2x) {verdict}"
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
            floor = {"popo": 50_000.0, "immudb": 50_000.0, "immudb-synced": 50_000.0}.get(backend)
            if floor is not None:
                verdict = "met" if summary.median >= floor else "MISSED"
                lines.append(
                    f"{scenario} on {LABELS.get(backend, backend)}: {summary.median:,.0f} events/s "
                    f"(target >= {floor:,.0f}) {verdict}"
                )
        if scenario == "replay 1M peak RSS":
            verdict = "met" if summary.median < 300 else "MISSED"
            lines.append(
                f"{scenario} on {LABELS.get(backend, backend)}: {summary.median:.0f} MB "
                f"(target < 300 MB) {verdict}"
            )
        if scenario == "boot 1M checkpoint" and backend.startswith("immudb"):
            verdict = "met" if summary.median < 3 else "MISSED"
            lines.append(
                f"{scenario} on {backend}: {summary.median:.2f} s (target < 3 s) {verdict}"
            )
        if scenario == "subscribe-latency p99":
            verdict = "met" if summary.median < 100 else "MISSED"
            lines.append(
                f"subscribe-latency p99 on {LABELS.get(backend, backend)}: {summary.median:.2f} ms "
                f"(target < 100 ms) {verdict}"
            )
    return lines


def _oriented(
    results: Results, scenario: str, ours: str, theirs: str
) -> tuple[float | None, float | None]:
    """The two medians ordered so that ``a / b`` > 1 means ``ours`` is better."""
    a, b = results.median(scenario, ours), results.median(scenario, theirs)
    summary = results.summaries.get((scenario, ours))
    if summary is not None and summary.unit in LOWER_IS_BETTER:
        return b, a
    return a, b
