"""The object classes ``acreate <Class> [name]`` knows, with the original's defaults.

In the Ruby game each class set instance variables in its constructor: the generic
noun, whether the object can be picked up (``@movable``), and for wearables where
they go (``info.position``) and on which layer (``info.layer``; 0 is outermost). Here
a class is plain data: the attributes a new object starts with. They are stored on
the object (so a replay or a projection knows them too) and read by the Manager's
rules: ``movable`` for get/take, ``position``/``layer`` for wear and wield, and
``container`` for put.

Positions such as ``hand`` or ``foot`` name a pair of slots; the Manager picks the
first free of ``left_<position>`` and ``right_<position>``, as the original's
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


def lookup(class_name: str) -> ObjectClass | None:
    """The class called ``class_name`` (case-insensitive), or ``None``."""
    return CATALOGUE.get(class_name.strip().lower())


def class_names() -> list[str]:
    """The class names, for help and error messages."""
    return [c.name for c in CATALOGUE.values()]
