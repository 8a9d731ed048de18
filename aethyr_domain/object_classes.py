"""The object classes ``acreate <Class> [name]`` knows, with the original's defaults.

In the Ruby game each class set instance variables in its constructor: the generic
noun, whether the object can be picked up (``@movable``), and for wearables where
they go (``info.position``) and on which layer (``info.layer``; 0 is outermost). Here
a class is plain data: the attributes a new object starts with. They are stored on
the object (so a replay or a projection knows them too).

Who reads them, each in exactly one place:

* ``layer`` is a rule of the world: the ``EquipItem`` handler
  (:mod:`aethyr_domain.handlers`) decides it (an integer from 0 to
  :data:`~aethyr_domain.equipment_slots.MAX_LAYER`, else the item cannot be worn).
* ``movable`` (may a player ``get`` it), ``is_container`` (may a player ``put``
  something in it) and ``position`` (where ``wear``/``wield`` put it) are rules of
  the player's verbs, which the commands do not carry: the functions below read
  them, for the Manager and the action layer alike. They only ever refuse a verb
  or choose the slot a command names; whether the command is then allowed is the
  handlers' decision.

Positions such as ``hand`` or ``foot`` name a pair of slots; the Manager tries
``left_<position>``, then ``right_<position>``, as the original's
``Equipment#find_empty_position`` did. ``wield`` likewise means either hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class ObjectClass:
    """A kind of object: its class name, generic noun, default name and attributes."""

    name: str
    generic: str
    default_name: str
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def initial_attributes(self) -> dict[str, Any]:
        """The attributes a new object of this class starts with (a fresh dict)."""
        out: dict[str, Any] = {"object_class": self.name}
        out.update(self.attributes)
        return out


def _cls(name: str, generic: str, default_name: str, **attributes: Any) -> ObjectClass:
    return ObjectClass(name, generic, default_name, MappingProxyType(attributes))


_WEAPON = {"position": "wield", "layer": 0, "movable": True, "attack": 0, "defense": 0}
_CLOTHING = {"movable": True, "layer": 2}

#: Every class ``acreate`` accepts, keyed by lower-case class name.
CATALOGUE: Mapping[str, ObjectClass] = MappingProxyType(
    {
        c.name.lower(): c
        for c in (
            _cls("Prop", "prop", "a prop", movable=False),
            _cls("Container", "container", "a container", movable=True, is_container=True),
            _cls("Weapon", "weapon", "a weapon", **_WEAPON),
            _cls(
                "Sword",
                "sword",
                "a sword",
                **{**_WEAPON, "weapon_type": "sword", "attack": 10, "defense": 5},
            ),
            _cls(
                "Dagger",
                "dagger",
                "a dagger",
                **{**_WEAPON, "weapon_type": "dagger", "attack": 5, "defense": 5},
            ),
            _cls(
                "Armor",
                "armor",
                "a suit of armor",
                movable=True,
                position="torso",
                layer=1,
                condition=100,
            ),
            _cls("Shirt", "shirt", "a nice shirt", **{**_CLOTHING, "position": "torso"}),
            _cls(
                "Underwear",
                "briefs",
                "a pair of briefs",
                **{**_CLOTHING, "position": "legs", "layer": 3},
            ),
            _cls("Pants", "pants", "a pair of pants", **{**_CLOTHING, "position": "legs"}),
            _cls(
                "Shoes",
                "normal shoes",
                "a pair of normal shoes",
                **{**_CLOTHING, "position": "foot"},
            ),
            _cls("Glove", "leather gloves", "leather gloves", **{**_CLOTHING, "position": "hand"}),
            _cls(
                "Necklace",
                "silver necklace",
                "a silver necklace",
                **{**_CLOTHING, "position": "neck", "layer": 0},
            ),
            _cls("Belt", "belt", "a belt", **{**_CLOTHING, "position": "waist", "layer": 0}),
            _cls(
                "Breastplate",
                "breastplate",
                "a breastplate",
                **{**_CLOTHING, "position": "torso", "layer": 1},
            ),
        )
    }
)

#: Positions that name a left/right pair of slots.
PAIRED_POSITIONS = frozenset(
    {"arm", "wrist", "foot", "ankle", "ring_finger", "ear", "hand", "shoulder", "wield"}
)


def is_movable(attributes: Mapping[str, Any]) -> bool:
    """May a player pick the object up? Only if ``movable`` is ``true`` (the bool)."""
    return attributes.get("movable") is True


def is_container(attributes: Mapping[str, Any]) -> bool:
    """May a player put things in the object? Only if ``is_container`` is ``true``."""
    return attributes.get("is_container") is True


def wear_position(attributes: Mapping[str, Any]) -> str | None:
    """Where the object is worn (``"torso"``, ``"hand"``...) or ``"wield"``; ``None`` if
    ``position`` is absent or not a string (the object is then neither worn nor
    wielded)."""
    position = attributes.get("position")
    return position if isinstance(position, str) else None


def lookup(class_name: str) -> ObjectClass | None:
    """The class called ``class_name`` (case-insensitive), or ``None``."""
    return CATALOGUE.get(class_name.strip().lower())


def class_names() -> list[str]:
    """The class names, for help and error messages."""
    return [c.name for c in CATALOGUE.values()]
