"""``migrate`` checks the whole dump before it writes anything: a dump the world's rules
refuse anywhere - even in its last object - is refused with one clear error, and the
store stays exactly as it was (issue 12: "a dump holding such a value is accepted by
``migrate`` too"). The dry run itself is ``migrate.check_migration`` (the Decider on
in-memory copies of the store's aggregates)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aethyr_domain.application import World
from aethyr_domain.cli.entry import main
from aethyr_domain.errors import InvalidCommandError
from aethyr_domain.game.migrate import InvalidDumpError, migrate_to_event_store
from aethyr_domain.outbox.event_store import iter_notifications
from aethyr_domain.read.world_dump import dumps, loads
from tests.projections.legacy import REPRO_VALUE
from tests.projections.scenario import ACTIONS, FAST_ENV, SETUP, play

TOO_DEEP = [[[[[[[[[["nine levels"]]]]]]]]]]
"""Deeper than the values rule's nesting limit (refused by today's command validation)."""


def a_dump_whose_last_object_holds(value: object) -> str:
    """A valid world dump, with ``value`` set on the object imported last."""
    world = World(env=FAST_ENV)
    live = play(world, steps=SETUP + ACTIONS)
    data = json.loads(dumps(live))
    last = max(o["id"] for o in data["objects"])
    for obj in data["objects"]:
        if obj["id"] == last:
            obj["attributes"]["bad"] = value
    return json.dumps(data)


def events_in(world: World) -> int:
    return sum(1 for _ in iter_notifications(world))


def check_refused(value: object) -> None:
    text = a_dump_whose_last_object_holds(value)
    target = World(env=FAST_ENV)
    play(target, steps=SETUP[:2])  # a store that already holds something
    before = events_in(target)
    # InvalidDumpError from the dry run; a check of the attributes before it may refuse
    # with the domain's InvalidCommandError first - either way nothing is written
    with pytest.raises((InvalidDumpError, InvalidCommandError)) as refused:
        migrate_to_event_store(target, loads(text))
    assert "bad" in str(refused.value)  # names the attribute
    assert events_in(target) == before  # nothing written, not even the first objects


def test_a_dump_the_rules_refuse_writes_nothing() -> None:
    check_refused(TOO_DEEP)


def test_a_dump_holding_the_issue_12_value_is_refused_and_writes_nothing() -> None:
    check_refused(REPRO_VALUE)


def test_the_cli_refuses_with_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AETHYR_EVENT_SOURCING_ENABLED", "1")
    monkeypatch.setenv("AETHYR_EVENT_STORE", "sqlite")
    monkeypatch.setenv("AETHYR_SQLITE_PATH", str(tmp_path / "ev.sqlite"))
    text = a_dump_whose_last_object_holds(TOO_DEEP)
    (tmp_path / "dump.json").write_text(text, encoding="utf-8")
    assert main(["migrate", "dump.json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aethyr-es: cannot import dump.json: object 'sword'")
    assert "attributes[bad]" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert main(["stats", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == 0
