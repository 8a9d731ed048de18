"""game: the running game on top of the model.

What lives here: the :class:`~aethyr_domain.game.manager.Manager` facade and its
parts (rules of the verbs, name search, presence, passwords), the player's verbs
(``actions`` and the ``*_verbs`` modules), boot and scripts (``session``), the telnet
server (``server``, ``telnet``), the game's own SQLite storage with event sourcing off
(``storage``), world checkpoints (``checkpoint``) and importing a world dump
(``migrate``).

What it may import: ``aethyr_domain.read``, ``aethyr_domain.outbox`` and the model
(the top-level modules of ``aethyr_domain``), never ``aethyr_domain.cli``. Modules
that touch a store are imported inside the functions that need them, so the game with
event sourcing off imports no store module (``tests/game/test_flag_off*.py``).
"""
