"""The shipped monitoring: alert rules that promtool accepts and whose unit tests pass, a
Grafana dashboard, and metric names that follow Prometheus' conventions.

``promtool`` comes from Debian's ``prometheus`` package, which ``scripts/test`` installs
when it is missing (as root). Without it these tests skip on a developer's machine and
FAIL in CI (``CI`` or ``AETHYR_REQUIRE_IMMUDB`` set), so the checks never silently vanish.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.registry import Collector

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "docs" / "prometheus" / "alerts.yml"
RULES_TEST = ROOT / "docs" / "prometheus" / "alerts_test.yml"
DASHBOARD = ROOT / "docs" / "grafana" / "aethyr.json"
METRICS_DOC = ROOT / "docs" / "metrics.md"

#: Suffixes a metric family's samples carry, by type.
_SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
    "gauge": ("",),
}
_METRIC_NAME = re.compile(r"\b((?:aethyr|process|python)_[a-z0-9_]+)\b")


#: Seconds a promtool check may take (it takes well under one; a CI run under heavy load
#: once saw it hang with its output open until pytest's 600 s timeout).
PROMTOOL_TIMEOUT = 120


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        message = (
            "promtool not found: install Debian's prometheus package "
            "(scripts/test does it as root: apt-get install -y prometheus)"
        )
        if os.environ.get("CI") or os.environ.get("AETHYR_REQUIRE_IMMUDB"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def exported_families() -> dict[str, str]:
    """Every metric family the code defines: name -> type (one registry each, as the
    processes that serve them do)."""
    import prometheus_client

    from aethyr_domain.cli import metrics_endpoint
    from aethyr_domain.outbox import delivery
    from aethyr_domain.read.projections import metrics as projection_metrics
    from aethyr_immudb_recorder.metrics import Metrics

    # registered in the global registry when imported
    assert delivery.OUTBOX_BACKLOG is not None and metrics_endpoint.INFO is not None
    recorder = CollectorRegistry()
    Metrics(recorder)
    registries: list[Collector] = [
        prometheus_client.REGISTRY,
        projection_metrics.REGISTRY,
        recorder,
    ]
    families: dict[str, str] = {}
    for registry in registries:
        for family in registry.collect():
            families[family.name] = family.type
    return families


def exported_sample_names() -> set[str]:
    names: set[str] = set()
    for name, kind in exported_families().items():
        names.update(name + suffix for suffix in _SAMPLE_SUFFIXES.get(kind, ("",)))
    return names


def _rule_exprs() -> list[str]:
    text = RULES.read_text(encoding="utf-8")
    return re.findall(r"^\s*expr:\s*(.+)$", text, flags=re.MULTILINE)


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            exprs.append(query["query"])
    return exprs


# ----------------------------------------------------------------- promtool
def test_promtool_accepts_the_alert_rules() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(RULES)],
        capture_output=True,
        text=True,
        check=False,
        timeout=PROMTOOL_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout


def test_the_alerts_unit_tests_pass() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", str(RULES_TEST)],
        capture_output=True,
        text=True,
        check=False,
        cwd=RULES_TEST.parent,
        timeout=PROMTOOL_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_alerts_cover_what_operators_must_hear_about() -> None:
    text = RULES.read_text(encoding="utf-8")
    alerts = re.findall(r"^\s*- alert:\s*(\w+)", text, flags=re.MULTILINE)
    assert sorted(alerts) == [
        "AethyrImmudbErrors",
        "AethyrOutboxBacklogGrowing",
        "AethyrOutboxDeadLetters",
        "AethyrProjectionLag",
        "AethyrProjectionStuck",
        "AethyrReplicationLag",
    ]
    tested = RULES_TEST.read_text(encoding="utf-8")
    for alert in alerts:  # each one has a firing and a quiet case
        assert tested.count(f"alertname: {alert}") >= 2, alert


# ------------------------------------------------- names the code must export
def test_every_metric_the_rules_and_the_dashboard_name_is_exported() -> None:
    exported = exported_sample_names()
    named = {m for expr in _rule_exprs() + _dashboard_exprs() for m in _METRIC_NAME.findall(expr)}
    assert named, "no metric names found"
    assert sorted(named - exported) == []


def test_the_dashboard_shows_each_part_of_the_system() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ["Game", "Outbox", "Projection", "Recorder (immudb)", "Replication"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    exprs = " ".join(_dashboard_exprs())
    for prefix in ("aethyr_info", "aethyr_outbox_", "aethyr_projection_", "aethyr_recorder_"):
        assert prefix in exprs
    assert "aethyr_recorder_replication_lag_seconds" in exprs


def test_every_exported_metric_is_documented() -> None:
    doc = METRICS_DOC.read_text(encoding="utf-8")
    for name, kind in exported_families().items():
        if name.startswith(("process_", "python_")):
            continue  # prometheus-client's own collectors, documented by reference
        shown = name + "_total" if kind == "counter" else name
        assert f"`{shown}` | {kind} |" in doc, (shown, kind)


# ---------------------------------------------------------------- conventions
def test_metric_names_follow_prometheus_conventions() -> None:
    families = exported_families()
    ours = {n: t for n, t in families.items() if n.startswith("aethyr_")}
    assert ours
    for name in families:
        assert not name.startswith("immudb_"), f"{name}: inside immudb's own namespace"
    for name in ours:
        assert "per_second" not in name and "_rate" not in name, f"{name}: a pre-computed rate"
        assert not name.endswith("_total"), f"{name}: the client adds _total to counters"
        for unit in ("milliseconds", "_ms", "minutes", "hours", "bytes_kb", "percent"):
            assert unit not in name, f"{name}: not a base unit"
    assert "aethyr_recorder_stored_events_appended" in ours  # events and snapshots: one
    assert not any("snapshot" in n for n in ours)  # ... told apart by the kind label


def test_a_missing_promtool_fails_in_ci_and_skips_elsewhere(monkeypatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    monkeypatch.delenv("AETHYR_REQUIRE_IMMUDB", raising=False)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        promtool()
    for flag in ("CI", "AETHYR_REQUIRE_IMMUDB"):
        monkeypatch.setenv(flag, "1")
        with pytest.raises(pytest.fail.Exception, match="promtool not found"):
            promtool()
        monkeypatch.delenv(flag)
