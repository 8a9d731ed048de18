"""Property-based tests: random command sequences never break an invariant.

A hypothesis state machine drives a POPO world (snapshots every 4 events, so
loading mixes snapshots and events) with random commands over a small pool of
ids, so that moves, cycles, deletions, name clashes and slot clashes happen
often. After every step it checks all invariants of ``docs/domain.md`` on the
whole world, and that every aggregate rebuilt from its events alone equals the
one the repository loads (from the latest snapshot).
"""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from aethyr_domain import commands as c
from aethyr_domain.application import World
from aethyr_domain.equipment_slots import WIELD_SLOTS
from aethyr_domain.errors import DomainError
from aethyr_domain.events import WorldEvent
from aethyr_domain.game_object import GameObject
from aethyr_domain.player import Player
from aethyr_domain.player_name_index import name_index_id
from aethyr_domain.room import Room

from .conftest import TEST_ENV

ROOMS = ["r1", "r2", "r3"]
THINGS = ["t1", "t2", "t3", "t4", "m1"]
PLAYERS = ["p1", "p2", "p3"]
ALL = ROOMS + THINGS + PLAYERS
NAMES = ["Ann", "ann", "Bob", "BOB", "Cy"]
SLOTS = ["head", "torso", "left_wield", "right_wield", "dual_wield"]
DIRS = ["n", "s", "up", "in"]

ids = st.sampled_from(ALL)
holders = st.sampled_from([*ALL, None])


class WorldMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.world = World(env=TEST_ENV, snapshot_threshold=4)
        self.refusals = 0

    def run(self, command: c.Command) -> None:
        before = self.world.recorder.max_notification_id()
        try:
            self.world.handle(command)
        except DomainError:
            self.refusals += 1
            assert self.world.recorder.max_notification_id() == before

    # ------------------------------------------------------------ rules

    @initialize(
        placements=st.lists(st.sampled_from([*ROOMS, *THINGS, "p1", None]), min_size=5, max_size=5)
    )
    def populate(self, placements: list[str | None]) -> None:
        """Start from a populated world so most commands meet existing objects."""
        for room in ROOMS:
            self.run(c.CreateRoom(room, room.upper(), "A room."))
        self.run(c.AddRoomExit("r1", "n", "r2"))
        self.run(c.CreatePlayer("p1", "Ann", "secret-1"))
        self.run(c.UpdateGameObjectContainer("p1", "r1"))
        for thing, holder in zip(THINGS, placements, strict=True):
            self.create_thing(thing, holder)

    @rule(room=st.sampled_from(ROOMS))
    def create_room(self, room: str) -> None:
        self.run(c.CreateRoom(room, room.upper(), "A room."))

    @rule(thing=st.sampled_from(THINGS), holder=holders)
    def create_thing(self, thing: str, holder: str | None) -> None:
        generic = "mobile" if thing.startswith("m") else "thing"
        self.run(c.CreateGameObject(thing, thing, generic, container_id=holder))

    @rule(player=st.sampled_from(PLAYERS), name=st.sampled_from(NAMES))
    def create_player(self, player: str, name: str) -> None:
        self.run(c.CreatePlayer(player, name, "secret-1"))

    @rule(obj=ids, holder=holders)
    def move(self, obj: str, holder: str | None) -> None:
        self.run(c.UpdateGameObjectContainer(obj, holder))

    @rule(
        holder=ids,
        obj=ids,
        position=st.none() | st.tuples(st.integers(0, 2), st.integers(0, 2)),
    )
    def add_to_inventory(self, holder: str, obj: str, position: Any) -> None:
        self.run(c.AddItemToInventory(holder, obj, position=position))

    def _held(self, holder: str, pick: int, equipped: bool) -> str | None:
        if holder not in self.world.repository:
            return None
        obj = self.world.get(holder)
        items = sorted(obj.equipment if equipped else obj.inventory)
        return items[pick % len(items)] if items else None

    @rule(
        who=st.sampled_from(["p1", "p2", "m1"]), pick=st.integers(0, 9), slot=st.sampled_from(SLOTS)
    )
    def equip_something_held(self, who: str, pick: int, slot: str) -> None:
        item = self._held(who, pick, equipped=False)
        if item is not None:
            self.run(c.EquipItem(who, item, slot))

    @rule(who=st.sampled_from(["p1", "p2", "m1"]), pick=st.integers(0, 9))
    def unequip_something_worn(self, who: str, pick: int) -> None:
        item = self._held(who, pick, equipped=True)
        if item is not None:
            slot = self.world.get(who).equipment[item][0]
            self.run(c.UnequipItem(who, item, slot))

    @rule(holder=ids, pick=st.integers(0, 9))
    def remove_something_held(self, holder: str, pick: int) -> None:
        item = self._held(holder, pick, equipped=False)
        if item is not None:
            self.run(c.RemoveItemFromInventory(holder, item))

    @rule(holder=ids, obj=ids)
    def remove_from_inventory(self, holder: str, obj: str) -> None:
        self.run(c.RemoveItemFromInventory(holder, obj))

    @rule(obj=ids, layer=st.integers(0, 2))
    def set_layer(self, obj: str, layer: int) -> None:
        self.run(c.UpdateGameObjectAttribute(obj, "layer", layer))

    @rule(who=ids, obj=ids, slot=st.sampled_from(SLOTS))
    def equip(self, who: str, obj: str, slot: str) -> None:
        self.run(c.EquipItem(who, obj, slot))

    @rule(who=ids, obj=ids, slot=st.sampled_from(SLOTS))
    def unequip(self, who: str, obj: str, slot: str) -> None:
        self.run(c.UnequipItem(who, obj, slot))

    @rule(room=ids, direction=st.sampled_from(DIRS), to=ids)
    def add_exit(self, room: str, direction: str, to: str) -> None:
        self.run(c.AddRoomExit(room, direction, to))

    @rule(room=ids, direction=st.sampled_from(DIRS))
    def remove_exit(self, room: str, direction: str) -> None:
        self.run(c.RemoveRoomExit(room, direction))

    @rule(obj=ids)
    def delete(self, obj: str) -> None:
        self.run(c.DeleteGameObject(obj))

    # ------------------------------------------------------------ invariants

    def objects(self) -> dict[str, GameObject]:
        found = {}
        for object_id in ALL:
            if object_id in self.world.repository:
                found[object_id] = self.world.get(object_id)
        return found

    @invariant()
    def every_object_is_in_one_place_and_both_sides_agree(self) -> None:
        objs = self.objects()
        places: dict[str, list[str]] = {}
        for holder in objs.values():
            for item_id, position in holder.inventory.items():
                places.setdefault(item_id, []).append(holder.id)
                item = objs[item_id]
                assert item.container_id == holder.id and item.slot is None
                assert item.position == position
                assert not item.deleted
            for item_id, (slot, _layer) in holder.equipment.items():
                places.setdefault(item_id, []).append(holder.id)
                item = objs[item_id]
                assert item.container_id == holder.id and item.slot == slot
                assert holder.is_character
        for obj in objs.values():
            assert len(places.get(obj.id, [])) <= 1
            if obj.container_id is None:
                assert obj.id not in places and obj.slot is None
            else:
                assert places[obj.id] == [obj.container_id]
                assert not objs[obj.container_id].deleted

    @invariant()
    def no_cycles_rooms_never_held_players_only_in_rooms(self) -> None:
        objs = self.objects()
        for obj in objs.values():
            seen = {obj.id}
            current = obj.container_id
            while current is not None:
                assert current not in seen
                seen.add(current)
                current = objs[current].container_id
            if isinstance(obj, Room):
                assert obj.container_id is None
            if isinstance(obj, Player) and obj.container_id is not None:
                assert isinstance(objs[obj.container_id], Room)

    @invariant()
    def exits_lead_to_live_rooms_and_entrances_agree(self) -> None:
        objs = self.objects()
        for room in objs.values():
            if not isinstance(room, Room):
                continue
            if room.deleted:
                assert room.exits == {} and room.entrances == {}
            for direction, target_id in room.exits.items():
                target = objs[target_id]
                assert isinstance(target, Room) and not target.deleted
                assert direction in target.entrances[room.id]
            for source_id, directions in room.entrances.items():
                source = objs[source_id]
                assert isinstance(source, Room)
                for direction in directions:
                    assert source.exits[direction] == room.id

    @invariant()
    def deleted_objects_hold_nothing(self) -> None:
        for obj in self.objects().values():
            if obj.deleted:
                assert obj.container_id is None
                assert obj.inventory == {} and obj.equipment == {}

    @invariant()
    def slots_hold_one_item_per_layer_and_wield_rules(self) -> None:
        for obj in self.objects().values():
            taken = [tuple(v) for v in obj.equipment.values()]
            assert len(taken) == len(set(taken))
            wielded = {slot for slot, _ in taken if slot in WIELD_SLOTS}
            if "dual_wield" in wielded:
                assert wielded == {"dual_wield"}

    @invariant()
    def player_names_unique_and_indexed(self) -> None:
        live = [o for o in self.objects().values() if isinstance(o, Player) and not o.deleted]
        lowered = [p.name.lower() for p in live]
        assert len(lowered) == len(set(lowered))
        for player in live:
            assert self.world.find_player_id(player.name) == player.id
        for name in NAMES:
            holder = self.world.find_player_id(name)
            if holder is not None:
                assert holder in {p.id for p in live}

    @invariant()
    def replaying_events_gives_the_loaded_state(self) -> None:
        index_ids = [name_index_id(n) for n in NAMES]
        for object_id in ALL + index_ids:
            if object_id not in self.world.repository:
                continue
            loaded: object = self.world.repository.get(object_id)
            replayed: Any = None
            for event in self.world.events.get(object_id):
                assert isinstance(event, WorldEvent)
                replayed = event.mutate(replayed)
            assert replayed == loaded

    def teardown(self) -> None:
        self.world.close()


WorldMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestWorldInvariants = WorldMachine.TestCase
