"""game: the running game on top of the model.

What lives here:

* the :class:`~aethyr_domain.game.manager.Manager` facade (``manager``) and its parts,
  one module per concern: its state and the one way to change the world
  (``manager_base``), creating and deleting (``lifecycle``), who is online
  (``presence``), passwords and the admin flag (``accounts``), finding things by name
  (``name_search``), the verbs' own rules (``verb_rules``), building (``building``);
* the player's verbs: ``actions`` (parse a line, pick the verb; one table per
  command set), ``verb_context`` (what every verb gets) and the command sets
  ``player_verbs``, ``item_verbs``, ``account_verbs``, ``talk_verbs``,
  ``building_verbs``, ``admin_verbs``;
* boot and scripts (``session``), the telnet server (``server``, ``telnet``), the
  game's own SQLite storage with event sourcing off (``storage``), world checkpoints
  (``checkpoint``) and importing a world dump (``migrate``).

What it may import: ``aethyr_domain.read``, ``aethyr_domain.outbox`` and the model
(the top-level modules of ``aethyr_domain``), never ``aethyr_domain.cli``. Modules
that touch a store are imported inside the functions that need them, so the game with
event sourcing off imports no store module (``tests/game/test_flag_off*.py``).
"""
