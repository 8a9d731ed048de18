"""aethyr_immudb_recorder: an immudb persistence module for the eventsourcing library.

Select it in any eventsourcing application with
``PERSISTENCE_MODULE=aethyr_immudb_recorder``. See ``docs/recorder.md``.
"""

__version__ = "0.1.0"
