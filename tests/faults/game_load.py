"""A deterministic load of scripted game actions, and the checks run after it.

:class:`GameLoad` drives a booted Manager through :class:`~aethyr_domain.game.actions.Actions`
(players walking, taking and dropping things, an admin rewriting descriptions) and keeps
every command the Manager emitted (as the outbox stores it: JSON round-tripped), so a
test can replay exactly those commands into an in-memory reference World and compare
event by event with what the real store holds.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from aethyr_domain import commands
from aethyr_domain.application import World
from aethyr_domain.decision import Decision
from aethyr_domain.game.actions import Actions
from aethyr_domain.game.manager import Manager
from aethyr_domain.values import thaw

ITEMS = 12


class GameLoad:
    """Scripted actions against ``manager``; ``emitted`` records every command."""

    def __init__(self, manager: Manager) -> None:
        self.manager = manager
        self.actions = Actions(manager)
        self.emitted: list[tuple[str, dict[str, Any], str]] = []
        self.latencies: list[float] = []
        sink: Any = manager.sink
        original = sink.record

        def record(decision: Decision) -> None:
            command = decision.command
            fields = {
                f.name: thaw(getattr(command, f.name))
                for f in dataclasses.fields(command)
                if f.name not in ("actor", "password")
            }
            entry = (type(command).__name__, json.loads(json.dumps(fields)), command.actor)
            self.emitted.append(entry)
            original(decision)

        sink.record = record  # the Manager calls self.sink.record
        self.alice = manager.add_player("Alice", "alice-secret-pw").id
        manager.set_admin(self.alice, True)
        self.players = [
            manager.add_player("Bob", "bob-secret-pw").id,
            manager.add_player("Carol", "carol-secret-pw").id,
        ]
        self.do(self.alice, "acroom north The Armoury")
        for k in range(ITEMS):
            self.do(self.alice, f"acreate Sword blade{k}")
        self.step = 0

    def do(self, who: str, text: str) -> str:
        started = time.perf_counter()
        replies = self.actions.perform(who, text)
        self.latencies.append(time.perf_counter() - started)
        return "\n".join(message for rid, message in replies if rid == who)

    def next_action(self) -> str:
        """Run the next action of the script; returns what the actor saw."""
        i = self.step
        self.step += 1
        if i % 7 == 6:
            return self.do(self.alice, f"adesc here Round {i} of the load.")
        who = self.players[i % 2]
        item = f"blade{(i // 14) % ITEMS}" if who == self.players[0] else f"blade{ITEMS - 1}"
        phase = (i // 2) % 6
        script = [f"get {item}", "north", f"drop {item}", f"get {item}", "south", f"drop {item}"]
        return self.do(who, script[phase])


def reference_log(emitted: list[tuple[str, dict[str, Any], str]]) -> list[tuple[str, int, str]]:
    """(aggregate id, version, topic) of every event the commands make on a fresh POPO World."""
    world = World(env={"PERSISTENCE_MODULE": "eventsourcing.popo", "SCRYPT_N": "1024"})
    for name, fields, actor in emitted:
        world.handle(getattr(commands, name)(**fields, actor=actor))
    return store_log(world)


def store_log(world: World) -> list[tuple[str, int, str]]:
    """(aggregate id, version, topic) of every event in ``world``'s log, in log order."""
    from aethyr_domain.outbox.event_store import iter_notifications

    return [
        (str(n.originator_id), n.originator_version, n.topic) for n in iter_notifications(world)
    ]
