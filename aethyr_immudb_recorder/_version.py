"""The version of the ``aethyr-eventsourcing`` distribution: the one place it is written.

``pyproject.toml`` reads it (``dynamic = ["version"]``, setuptools' ``attr``), and
so do both packages' ``__version__``: :mod:`aethyr_immudb_recorder` imports it, and
:mod:`aethyr_domain` loads this file on its own (:mod:`aethyr_domain._version`), so
that ``import aethyr_domain`` still imports nothing of the recorder. This module
imports nothing, so it can be loaded that way.
"""

__version__ = "0.1.0"
