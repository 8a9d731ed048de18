"""Child process for the group-commit crash test (run as a script, dies by SIGKILL).

Usage: python group_crash_child.py FOLDER HOLD_SECONDS
Boots the flag-on game (SQLite store) of FOLDER and serves it on a free port (printed
as ``PORT <n>``). The first group waits HOLD_SECONDS before it takes the queued actions,
so the actions the parent sends meanwhile form one group; right after the flush of the
first group that changed something, the process kills itself with SIGKILL: the
group's outbox entries are on disk, and none of its replies was sent.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2]))

from aethyr_domain.game.server import GameServer
from aethyr_domain.game.session import boot
from tests.server.test_group_commit_server import crash_config


def main() -> None:
    folder, hold = Path(sys.argv[1]), float(sys.argv[2])
    config = crash_config(folder)
    manager = boot(config)
    server = GameServer(manager, config)
    run_group = server._run_group
    held = [False]

    def first_group_waits() -> None:
        if not held[0]:
            held[0] = True
            time.sleep(hold)
        run_group()

    server._run_group = first_group_waits  # type: ignore[method-assign]

    def crash(actions: int) -> None:
        print(f"FLUSHED {actions}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    server.after_commit = crash
    asyncio.run(server.run("127.0.0.1", 0, ready=lambda port: print(f"PORT {port}", flush=True)))


if __name__ == "__main__":
    main()
