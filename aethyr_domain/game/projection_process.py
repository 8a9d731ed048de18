"""The world projection as a child process of ``aethyr-es serve``.

In the game's process the projection follower competes with the game thread for
one interpreter: on immudb it applies each batch through gRPC calls whose client
threads need the GIL too (``docs/performance.md``, runs 14 and 15). With
``projection_process`` on (the default) and a store another process can open
(not the in-memory ``popo`` one), ``serve`` boots without the in-process
projection and, once the world is loaded, starts ``aethyr-es project`` as a
child process (:func:`~aethyr_domain.cli.projections.run_project_process`: catch
up, follow live, re-attach after outages and rebuilds).

At shutdown, after the game drained its outbox (everything the players did is in
the store), :meth:`ProjectionProcess.stop` sends the child SIGTERM; on SIGTERM
``project`` applies what the log holds, then exits and prints the notification it
stopped at. The parent waits at most ``shutdown_drain_timeout`` seconds, compares
that position with the log's head and logs a warning when the child did not
reach it (or had to be killed), so that ``live == replay == projection`` holds at
exit whenever the store answered.

The child runs with the parent's configuration (the same ``--config`` file and
``AETHYR_*`` environment). Its metrics (the projection's lag gauges among them)
are served on ``metrics_port + 1`` when ``metrics_enabled``: the parent's port
stays the game's. The child stops by itself when the parent goes away
(``--parent-pid``), so a killed server leaves no projection behind. Once ready it runs
at a lower CPU priority than the game (``background_nice``,
:mod:`~aethyr_domain.outbox.process_priority`): the read model may lag a little on a
busy machine, the players' answers do not wait for it.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time

from aethyr_domain.config import CONFIG_FILE_ENV, ENV_PREFIX, ServerConfig
from aethyr_domain.outbox.process_priority import lower_priority

log = logging.getLogger(__name__)

READY = "projection: signals handled"
"""What ``project --parent-pid`` prints once SIGTERM makes it catch up and exit (before
that, SIGTERM would end it at once): the parent waits for it before stopping it."""

STOPPED = re.compile(r"projection stopped at notification (\d+)")


def runs_as_process(config: ServerConfig) -> bool:
    """``True`` when ``serve`` should run the world projection as a child process:
    the projection and ``projection_process`` on, event sourcing on, and a store a
    second process can open (not ``popo``)."""
    return (
        config.event_sourcing_enabled
        and config.projections_enabled
        and config.projection_process
        and config.event_store != "popo"
    )


class ProjectionProcess:
    """A running ``aethyr-es project`` child (see the module docstring)."""

    def __init__(
        self, process: subprocess.Popen[str], *, nice: int = 0, idle: bool = False
    ) -> None:
        self.process = process
        #: How much lower the child's priority is made once it is ready (``background_nice``).
        self.nice = nice
        #: Whether it also runs under ``SCHED_IDLE`` once ready (``background_idle``).
        self.idle = idle
        self._lines: list[str] = []
        self._ready = threading.Event()
        self._reader = threading.Thread(
            target=self._read, name="projection-process-stdout", daemon=True
        )
        self._reader.start()

    @classmethod
    def start(cls, config: ServerConfig, config_path: str | None = None) -> ProjectionProcess:
        """Start ``aethyr-es project`` with ``config`` (``config_path``: the TOML file
        the parent read, if any; the environment is inherited)."""
        env = dict(os.environ)
        if config_path:
            env[CONFIG_FILE_ENV] = os.path.abspath(config_path)
        if config.metrics_enabled:
            env[f"{ENV_PREFIX}METRICS_PORT"] = str(config.metrics_port + 1)
        command = [
            sys.executable,
            "-m",
            "aethyr_domain.cli",
            "project",
            "--parent-pid",
            str(os.getpid()),
        ]
        process = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True
        )
        log.info("world projection running as process %d", process.pid)
        return cls(process, nice=config.background_nice, idle=config.background_idle)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.append(line.rstrip("\n"))
            if line.startswith(READY):
                # Only now: starting up at the game's priority, a busy machine does not
                # keep the child from becoming ready to stop cleanly.
                lower_priority(self.process.pid, self.nice, idle=self.idle)
                self._ready.set()
        self._ready.set()  # the child ended

    @property
    def pid(self) -> int:
        return self.process.pid

    def position(self) -> int | None:
        """The notification the child said it stopped at (``None`` before it did)."""
        for line in reversed(self._lines):
            match = STOPPED.search(line)
            if match:
                return int(match.group(1))
        return None

    def stop(self, head: int | None, timeout: float) -> bool:
        """SIGTERM the child, wait (at most ``timeout`` s) for it to apply the log up to
        ``head`` and exit; ``True`` if it reached ``head``. Warns otherwise (and kills
        a child that did not exit in time)."""
        if self.process.poll() is not None:
            log.warning(
                "the world projection process %d had already exited (code %s)",
                self.pid,
                self.process.returncode,
            )
        else:
            # A child still starting up would die of SIGTERM without catching up.
            deadline = time.monotonic() + timeout
            self._ready.wait(timeout)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                log.warning(
                    "the world projection process %d did not stop within %ss; killed",
                    self.pid,
                    timeout,
                )
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5.0)
        position = self.position()
        if head is not None and (position is None or position < head):
            log.warning(
                "the world projection stopped at notification %s, before the log's head %d: "
                "run `aethyr-es project --once` to catch the read model up",
                position,
                head,
            )
            return False
        return True
