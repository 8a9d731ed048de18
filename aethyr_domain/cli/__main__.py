"""``python -m aethyr_domain.cli``: the same as the ``aethyr-es`` command."""

from __future__ import annotations

import sys

from aethyr_domain.cli.entry import main

sys.exit(main())
