"""aethyr_domain: the world of the Aethyr MUD as event-sourced aggregates.

See ``docs/domain.md`` and ``docs/index.md``.
"""

__version__ = "0.1.0"
