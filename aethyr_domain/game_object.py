"""The ``GameObject`` aggregate: anything in the world, and the base of Player and Room.

State (all plain JSON-friendly data, so snapshots round-trip):

* ``name``, ``generic``: display name and generic noun.
* ``container_id``: the holder (a room, a container, a character) or ``None``.
* ``position``: ``[x, y]`` grid position inside the holder's inventory, or ``None``.
* ``slot``: the equipment slot when the holder wears/wields it, else ``None``.
  So an object is either in its holder's inventory (``slot is None``), or in
  its holder's equipment (``slot`` set), or nowhere (``container_id is None``).
* ``attributes``: free-form attributes (``long_desc``, ``layer``...).
* ``inventory``: ``{item_id: [x, y] | None}``, the objects this one holds.
* ``equipment``: ``{item_id: [slot, layer]}``, what this character wears or wields.
* ``deleted``: soft-delete flag; a deleted object accepts no command.

The methods below only record facts (they trigger events). Rules that span
several aggregates (cycles, holder/item agreement, name uniqueness) live in
:mod:`aethyr_domain.handlers`, which calls these methods on every aggregate it
touches before one atomic ``save()``.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import BaseAggregate

from aethyr_domain.events import (
    GameObjectAttributesUpdated,
    GameObjectAttributeUpdated,
    GameObjectContainerUpdated,
    GameObjectCreated,
    GameObjectDeleted,
    ItemAddedToInventory,
    ItemEquipped,
    ItemRemovedFromInventory,
    ItemUnequipped,
    WorldEvent,
    WorldSnapshot,
)

#: ``generic`` values (lower-cased) that make a plain game object a character
#: (it can wear and wield equipment). Players are always characters.
CHARACTER_GENERICS = frozenset({"mobile"})


class GameObject(BaseAggregate[str]):
    """Any object of the world: item, container, mobile; base of Player and Room."""

    Event = WorldEvent
    Created = GameObjectCreated
    Snapshot = WorldSnapshot

    def __init__(self) -> None:
        # Declared here for readers and type checkers; GameObjectCreated.apply
        # sets the real values right after construction.
        self.name: str = ""
        self.generic: str = ""
        self.container_id: str | None = None
        self.position: list[int] | None = None
        self.slot: str | None = None
        self.attributes: dict[str, Any] = {}
        self.inventory: dict[str, list[int] | None] = {}
        self.equipment: dict[str, list[Any]] = {}
        self.deleted: bool = False

    @classmethod
    def create(
        cls,
        *,
        id: str,
        name: str,
        generic: str,
        container_id: str | None,
        actor: str,
    ) -> GameObject:
        """Start a new game object's stream with ``GameObjectCreated``."""
        return cls._create(
            GameObjectCreated,
            id=id,
            name=name,
            generic=generic,
            container_id=container_id,
            attributes={},
            actor=actor,
        )

    # ---------------------------------------------------------------- queries

    @property
    def is_character(self) -> bool:
        """True if this object can wear and wield equipment."""
        return self.generic.lower() in CHARACTER_GENERICS

    @property
    def kind(self) -> str:
        """A word for messages: ``object``, ``player`` or ``room``."""
        return "object"

    def occupant(self, slot: str, layer: int) -> str | None:
        """The item this character wears in ``slot`` at ``layer``, if any."""
        for item_id, (item_slot, item_layer) in self.equipment.items():
            if item_slot == slot and item_layer == layer:
                return item_id
        return None

    # ---------------------------------------------------------------- commands

    def set_attribute(self, key: str, value: Any, actor: str) -> None:
        """Set one attribute."""
        self.trigger_event(GameObjectAttributeUpdated, key=key, value=value, actor=actor)

    def set_attributes(self, attributes: dict[str, Any], actor: str) -> None:
        """Merge several attributes."""
        self.trigger_event(GameObjectAttributesUpdated, attributes=attributes, actor=actor)

    def place(
        self,
        container_id: str | None,
        actor: str,
        *,
        position: list[int] | None = None,
        slot: str | None = None,
    ) -> None:
        """Record this object's new place (holder, grid position, slot)."""
        self.trigger_event(
            GameObjectContainerUpdated,
            container_id=container_id,
            position=position,
            slot=slot,
            actor=actor,
        )

    def gain(self, item_id: str, position: list[int] | None, actor: str) -> None:
        """Record that this holder's inventory gained (or repositioned) an item."""
        self.trigger_event(ItemAddedToInventory, item_id=item_id, position=position, actor=actor)

    def lose(self, item_id: str, actor: str) -> None:
        """Record that this holder's inventory lost an item."""
        self.trigger_event(ItemRemovedFromInventory, item_id=item_id, actor=actor)

    def equip(self, item_id: str, slot: str, layer: int, actor: str) -> None:
        """Record that this character now wears/wields an item."""
        self.trigger_event(ItemEquipped, item_id=item_id, slot=slot, layer=layer, actor=actor)

    def unequip(self, item_id: str, actor: str) -> None:
        """Record that this character took an item off."""
        slot, layer = self.equipment[item_id]
        self.trigger_event(ItemUnequipped, item_id=item_id, slot=slot, layer=layer, actor=actor)

    def delete(self, actor: str) -> None:
        """Record the (soft) deletion. The handler empties the object first."""
        self.trigger_event(GameObjectDeleted, actor=actor)
