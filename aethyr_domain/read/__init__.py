"""read: reading the event log back.

What lives here: replaying the log into a game state and time travel (``replay``),
``aethyr-es history`` (``history``), notification and immudb transaction ids
(``log_positions``), the canonical ``world --json`` dump (``world_dump``), and the
read model (``projections/``: migrations, views per store, the projection, queries,
the projection service, blue/green rebuild, metrics).

What it may import: ``aethyr_domain.outbox`` (opening the store) and the model (the
top-level modules of ``aethyr_domain``); never ``aethyr_domain.game`` or
``aethyr_domain.cli``.
"""
