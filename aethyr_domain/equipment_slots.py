"""Equipment slots of a character, as in the original Aethyr ``Equipment`` class.

A character wears items in 22 body slots and wields them in three hand slots.
Each slot is *layered*: the original stores ``equipment[slot][layer] = goid``,
so a shirt (layer 2) and a coat (layer 1) can share the torso. Here the layer
comes from the item's ``layer`` attribute (an int from 0 to :data:`MAX_LAYER`,
default 0); wield slots only have layer 0. One item per (slot, layer).

Wield rules, from the original ``Equipment#check_wield``: ``dual_wield`` needs
both hands free, and ``left_wield``/``right_wield`` are refused while a
two-handed weapon is in ``dual_wield``.
"""

from __future__ import annotations

#: The original's 22 body slots, in its display order.
BODY_SLOTS: tuple[str, ...] = (
    "left_shoulder",
    "head",
    "right_shoulder",
    "left_arm",
    "torso",
    "right_arm",
    "left_foot",
    "legs",
    "right_foot",
    "left_hand",
    "right_hand",
    "face",
    "neck",
    "left_wrist",
    "right_wrist",
    "waist",
    "left_ring_finger",
    "right_ring_finger",
    "left_ear",
    "right_ear",
    "left_ankle",
    "right_ankle",
)

#: The three hand slots for weapons.
WIELD_SLOTS: tuple[str, ...] = ("left_wield", "right_wield", "dual_wield")

#: Every slot name an :class:`~aethyr_domain.commands.EquipItem` may use.
SLOTS: frozenset[str] = frozenset(BODY_SLOTS + WIELD_SLOTS)

#: Highest layer number an item may declare (0 = outermost).
MAX_LAYER = 4

#: Name of the game-object attribute that gives an item's layer.
LAYER_ATTRIBUTE = "layer"


def normalise_slot(slot: str) -> str | None:
    """Return the canonical slot name for ``slot`` or ``None`` if unknown.

    Case and surrounding blanks are ignored, and inner spaces or dashes become
    underscores, as the original's ``sym()`` did: ``"Left Wield"`` ->
    ``"left_wield"``.
    """
    name = "_".join(slot.strip().lower().replace("-", " ").split())
    return name if name in SLOTS else None


def conflicting_slots(slot: str) -> tuple[str, ...]:
    """Slots whose occupation (at layer 0) forbids wielding in ``slot``."""
    if slot == "dual_wield":
        return WIELD_SLOTS
    if slot in ("left_wield", "right_wield"):
        return (slot, "dual_wield")
    return ()
