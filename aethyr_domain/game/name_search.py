"""Finding things by what a player types: ids, names, nouns, ``alt_names``, last words."""

from __future__ import annotations

from aethyr_domain.game.manager_base import ManagerBase
from aethyr_domain.game_state import WorldObject


class NameSearch(ManagerBase):
    """:meth:`find` and :meth:`find_worn` (read only)."""

    def find(self, text: str, holders: list[str]) -> WorldObject | None:
        """The first object held by one of ``holders`` that ``text`` names.

        A name matches by id, whole name, generic noun, an ``alt_names`` entry, or the
        last word of the name (``sword`` finds "a rusty sword"), case-insensitively.
        """
        wanted = text.strip().lower()
        if not wanted:
            return None
        for holder in holders:
            for obj in self.state.inventory(holder):
                if _matches(obj, wanted):
                    return obj
        return None

    def find_worn(self, player_id: str, text: str) -> WorldObject | None:
        """An item ``player_id`` wears or wields that ``text`` names."""
        wanted = text.strip().lower()
        for _slot, _layer, item_id in self.state.worn(player_id):
            obj = self.state.get(item_id)
            if obj is not None and _matches(obj, wanted):
                return obj
        return None


def _matches(obj: WorldObject, wanted: str) -> bool:
    if wanted in (obj.id.lower(), obj.name.lower(), obj.generic.lower()):
        return True
    alt = obj.attributes.get("alt_names")
    if isinstance(alt, list) and any(isinstance(a, str) and a.lower() == wanted for a in alt):
        return True
    words = obj.name.lower().split()
    return bool(words) and words[-1] == wanted
