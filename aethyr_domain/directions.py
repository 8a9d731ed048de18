"""Exit directions and their abbreviations.

Room exits are keyed by a canonical direction. The accepted set is the one
the original ``MoveCommand`` understood: the eight compass points, up, down,
in and out, with the abbreviations ``n s e w ne nw se sw u d``.
"""

from __future__ import annotations

#: Canonical direction names.
DIRECTIONS: tuple[str, ...] = (
    "north",
    "south",
    "east",
    "west",
    "northeast",
    "northwest",
    "southeast",
    "southwest",
    "up",
    "down",
    "in",
    "out",
)

#: Abbreviation -> canonical name.
ABBREVIATIONS: dict[str, str] = {
    "n": "north",
    "s": "south",
    "e": "east",
    "w": "west",
    "ne": "northeast",
    "nw": "northwest",
    "se": "southeast",
    "sw": "southwest",
    "u": "up",
    "d": "down",
}

#: The direction that leads back (useful to games building two-way exits).
OPPOSITES: dict[str, str] = {
    "north": "south",
    "south": "north",
    "east": "west",
    "west": "east",
    "northeast": "southwest",
    "southwest": "northeast",
    "northwest": "southeast",
    "southeast": "northwest",
    "up": "down",
    "down": "up",
    "in": "out",
    "out": "in",
}


def normalise_direction(direction: str) -> str | None:
    """Return the canonical direction for ``direction``, or ``None`` if unknown.

    Case, blanks, dashes and underscores are ignored: ``"N"`` -> ``"north"``,
    ``"north-east"`` -> ``"northeast"``.
    """
    key = direction.strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    key = ABBREVIATIONS.get(key, key)
    return key if key in DIRECTIONS else None
