"""Outbox delivery in a child process of ``aethyr-es serve`` (``delivery_process``).

The delivery thread (:class:`~aethyr_domain.outbox.delivery.Deliverer`) spends its
rounds in Python: reading the outbox, building the store's append, the immudb
client's request and its checks. In the game's process each of those bursts holds
the interpreter lock while the game thread waits to decide the next action, so the
players' slowest answers grow with the store's work (``docs/performance.md``, run
17). With ``delivery_process`` on (the default) and a store another process can open
(not ``popo``), ``serve`` delivers from a child process instead:

1. boot takes the writer lease, delivers what the outbox held and loads the world
   in the game's process, as always (:func:`aethyr_domain.game.session.boot`);
2. the game stops its lease heartbeat and starts this module as a child
   (:meth:`DeliveryProcess.start`) with the lease's epoch and position: the child
   holds the same lease from then on (:class:`~aethyr_domain.outbox.writer_lease.WriterLease`
   built from them: its appends and heartbeats continue the game's positions, so
   there is still ONE writer of the store, and fencing works as before);
3. the child opens the outbox file and runs the ordinary
   :class:`~aethyr_domain.outbox.delivery.Deliverer` (recovery first, then group
   commits: exactly once as in the thread). The game appends to the outbox and
   writes one byte to the child's standard input after each commit (a wake-up).
   The child does not write its delivered marks into the file: it reports them on
   its standard output and the game deletes those rows, so the game's commits never
   wait for the child's write lock (:mod:`~aethyr_domain.outbox.delivered_marks`);
4. at shutdown the game waits (bounded) until the outbox is empty
   (:meth:`DeliveryProcess.drain`), then closes the child's standard input: the
   child ends its round, releases the lease and exits 0
   (:meth:`DeliveryProcess.stop`). End of input is also how the child learns that
   the game died: it never outlives its parent's pipe.

If the child exits on its own - it lost the lease to another writer (exit
:data:`EXIT_LEASE_LOST`) or failed - :attr:`DeliveryProcess.lost` says why, and
``serve`` stops as it does when the delivery thread loses the lease: the game must
not go on deciding what nobody delivers. Either way every entry stays in the outbox
and the next boot delivers it.

Metrics: the game's ``aethyr_outbox_*`` series show the shared outbox file's counts
(backlog, delivered, dead letters), read at each scrape. With ``metrics_enabled`` the
child serves its own registry on ``metrics_port + 2`` (:data:`METRICS_PORT_OFFSET`;
the projection child has ``+ 1``): there are the delivery's
``aethyr_outbox_delivery_errors_total`` and the store client's ``aethyr_recorder_*``
series. Each delivery error is also logged (the game's standard error).

The child runs with the parent's configuration (the ``AETHYR_*`` environment and
the ``--config`` file, passed on in ``AETHYR_CONFIG``) and at a lower CPU priority
(``background_nice`` and ``background_idle``,
:mod:`~aethyr_domain.outbox.process_priority`), set once it is
ready: starting up at the game's priority keeps a busy machine from holding boot up. Its log goes to
the parent's standard error; its standard output carries :data:`READY`, the
delivered marks and, if it lost the lease, :data:`LOST`.

Usage (by ``serve`` only): ``python -m aethyr_domain.outbox.delivery_process
--epoch N --position P``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from aethyr_domain.config import CONFIG_FILE_ENV, ENV_PREFIX, ServerConfig
from aethyr_domain.outbox.delivered_marks import (
    DELIVERED,
    ReportingOutbox,
    apply_marks,
    line_writer,
)
from aethyr_domain.outbox.delivery import (
    OUTBOX_BACKLOG,
    OUTBOX_DEAD,
    OUTBOX_DEAD_LETTERS,
    OUTBOX_DELIVERED,
)
from aethyr_domain.outbox.process_priority import lower_priority
from aethyr_domain.outbox.queue import Outbox

if TYPE_CHECKING:
    from aethyr_domain.application import World

log = logging.getLogger(__name__)

READY = "delivery: ready"
"""What the child prints once it holds the lease and delivers (the parent waits for it)."""
LOST = "delivery: lost: "
"""The prefix of the line the child prints when another writer took the lease over."""
#: The child's exit code when it lost the writer lease (the same as the CLI's).
EXIT_LEASE_LOST = 4
#: Seconds between the child's checks of its lease and of a stop request.
CHILD_TICK = 0.5
#: Seconds between two looks at the outbox while :meth:`DeliveryProcess.drain` waits.
DRAIN_POLL = 0.01
#: The child serves its metrics on ``metrics_port`` plus this.
METRICS_PORT_OFFSET = 2


def runs_as_process(config: ServerConfig) -> bool:
    """``True`` when ``serve`` should deliver from a child process: event sourcing
    on, ``delivery_process`` on, and a store a second process can open (not ``popo``)."""
    return (
        config.event_sourcing_enabled and config.delivery_process and config.event_store != "popo"
    )


class DeliveryProcess:
    """The game's side of a running delivery child (see the module docstring).

    It has the part of :class:`~aethyr_domain.outbox.delivery.Deliverer`'s interface
    that :class:`~aethyr_domain.outbox.event_sink.OutboxSink` uses (``wake``,
    ``drain``, ``stop``, ``lost``, ``last_error``, ``world``), so the game's sink
    works the same with either.
    """

    def __init__(self, process: subprocess.Popen[str], outbox: Outbox, world: World) -> None:
        self.process = process
        self.outbox = outbox
        #: The game's own World (reads only: the log's head at shutdown, checkpoints).
        self.world = world
        self.last_error: str | None = None
        self._lost: str | None = None
        self._stopping = False
        self._lines: list[str] = []
        self._ready = threading.Event()
        self._wake_lock = threading.Lock()
        assert process.stdin is not None
        self._stdin = process.stdin
        os.set_blocking(self._stdin.fileno(), False)
        self._reader = threading.Thread(
            target=self._read, name="delivery-process-stdout", daemon=True
        )
        self._reader.start()
        self._backlog = outbox.backlog()
        self._delivered = outbox.delivered_count()
        self._dead = outbox.dead_letter_count()
        # The game's outbox series show what the shared outbox file says, read at each
        # scrape (the backlog gauge is collected first); the child serves its own (its
        # delivery errors, the store client's) on metrics_port + METRICS_PORT_OFFSET.
        OUTBOX_BACKLOG.set_function(self._read_outbox)
        OUTBOX_DEAD_LETTERS.set_function(lambda: float(self._dead))

    @classmethod
    def start(
        cls,
        config: ServerConfig,
        outbox: Outbox,
        world: World,
        *,
        epoch: int,
        position: int,
        config_path: str | None = None,
        ready_timeout: float | None = None,
    ) -> DeliveryProcess:
        """Start the child with the lease ``(epoch, position)`` the caller holds (and
        no longer heartbeats) and wait until it is ready; ``RuntimeError`` if it
        exited or was not ready within ``ready_timeout`` seconds (default: the
        lease timeout), after killing it."""
        env = dict(os.environ)
        if config_path:
            env[CONFIG_FILE_ENV] = os.path.abspath(config_path)
        if config.metrics_enabled:
            env[f"{ENV_PREFIX}METRICS_PORT"] = str(config.metrics_port + METRICS_PORT_OFFSET)
        command = [
            sys.executable,
            "-m",
            "aethyr_domain.outbox.delivery_process",
            "--epoch",
            str(epoch),
            "--position",
            str(position),
        ]
        process = subprocess.Popen(
            command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        delivery = cls(process, outbox, world)
        timeout = config.writer_lease_timeout if ready_timeout is None else ready_timeout
        if not delivery._ready.wait(timeout) or process.poll() is not None:
            delivery._kill()
            raise RuntimeError(
                "the delivery process did not start"
                + (f": {delivery._lost}" if delivery._lost else f" within {timeout:g}s")
            )
        # Only now: starting up at the game's priority keeps a busy machine from
        # holding boot up (every thread of the child, and those it starts later).
        lower_priority(process.pid, config.background_nice, idle=config.background_idle)
        log.info("outbox delivery running as process %d", process.pid)
        return delivery

    def _read_outbox(self) -> float:
        """The outbox's backlog now (the last one read, once the outbox is closed);
        brings the delivered and dead-letter counters up to the file's counts."""
        with contextlib.suppress(Exception):
            self._backlog = self.outbox.backlog()
            delivered = self.outbox.delivered_count()
            dead = self.outbox.dead_letter_count()
            OUTBOX_DELIVERED.inc(max(0, delivered - self._delivered))
            OUTBOX_DEAD.inc(max(0, dead - self._dead))
            self._delivered, self._dead = delivered, dead
        return float(self._backlog)

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            line = line.rstrip("\n")
            if line.startswith(DELIVERED):
                self._apply_marks(line)
                continue
            self._lines.append(line)
            if line == READY:
                self._ready.set()
            elif line.startswith(LOST):
                self._lost = line.removeprefix(LOST)
        code = self.process.wait()
        if not self._stopping and self._lost is None:
            self._lost = f"the outbox delivery process exited unexpectedly (code {code})"
        if not self._stopping:
            log.error("outbox delivery stopped: %s", self._lost)
        self._ready.set()

    def _apply_marks(self, line: str) -> None:
        """Delete the entries the child reports delivered (the game writes the outbox;
        :mod:`~aethyr_domain.outbox.delivered_marks`). A failure leaves a lost mark,
        which the next recovery settles: it is logged, delivery goes on."""
        try:
            apply_marks(self.outbox, line)
        except Exception as exc:
            log.warning("cannot mark delivered outbox entries (left pending): %s", exc)

    @property
    def lost(self) -> str | None:
        """Why delivery stopped for good (the child lost the lease, or died), if it did."""
        return self._lost

    def wake(self) -> None:
        """Tell the child there is something new (one byte; never blocks)."""
        with self._wake_lock, contextlib.suppress(BlockingIOError, BrokenPipeError, ValueError):
            os.write(self._stdin.fileno(), b"w")

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for an empty outbox; True if it emptied (and
        the child is still delivering)."""
        self.wake()
        deadline = time.monotonic() + timeout
        while True:
            if self._lost is not None:
                return False
            if self.outbox.backlog() == 0:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(DRAIN_POLL)

    def stop(self, timeout: float = 5.0, *, then: Callable[[], None] | None = None) -> bool:
        """Close the child's input (it finishes its round, releases the lease and
        exits), wait at most ``timeout`` seconds (then kill it), then call ``then``.
        True if it exited by itself in time."""
        self._stopping = True
        with self._wake_lock, contextlib.suppress(OSError):
            self._stdin.close()
        ended = True
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning(
                "the outbox delivery process %d did not stop within %ss; killed (its lease "
                "is taken over after writer_lease_timeout)",
                self.pid,
                timeout,
            )
            self._kill()
            ended = False
        self._reader.join(timeout=5.0)
        if then is not None:
            then()
        return ended

    def _kill(self) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            self.process.kill()
        self.process.wait()


# ------------------------------------------------------------------ the child
def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m aethyr_domain.outbox.delivery_process")
    parser.add_argument("--epoch", type=int, required=True, help="the game's lease epoch")
    parser.add_argument("--position", type=int, required=True, help="its last position")
    return parser.parse_args(argv)


def _serve_metrics(config: ServerConfig) -> None:
    """Serve this process's metrics on ``metrics_address:metrics_port`` (the parent
    set the port to its own + :data:`METRICS_PORT_OFFSET`) if ``metrics_enabled``. A
    port that cannot be bound is logged, not fatal: delivery matters more."""
    if not config.metrics_enabled:
        return
    from prometheus_client import start_http_server

    try:
        start_http_server(config.metrics_port, addr=config.metrics_address)
    except OSError as exc:
        log.warning(
            "delivery process: cannot serve metrics on %s:%d: %s",
            config.metrics_address,
            config.metrics_port,
            exc.strerror or exc,
        )


def main(argv: list[str] | None = None) -> int:
    """The child: deliver until the parent closes our input (see the module docstring).

    SIGTERM and SIGINT are ignored: a service manager that signals the whole group,
    or Ctrl-C in the game's terminal, also reaches the game, which still has to drain
    the outbox through this child before it closes our input. (SIGKILL ends the child
    at once; the next boot delivers what it left, exactly once.)
    """
    from aethyr_domain.outbox.delivery import Deliverer
    from aethyr_domain.outbox.event_store import open_world
    from aethyr_domain.outbox.writer_lease import LeaseLostError, WriterLease

    args = _parse(argv)
    say = line_writer(sys.stdout)  # READY, LOST and the delivered marks: whole lines
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = ServerConfig.load()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _serve_metrics(config)
    world = open_world(config)
    lease = WriterLease(
        world.recorder, args.epoch, args.position, timeout=config.writer_lease_timeout
    )
    try:
        lease.heartbeat()  # still ours? (the game stopped beating a moment ago)
    except LeaseLostError as exc:
        say(LOST + str(exc))
        world.close()
        return EXIT_LEASE_LOST
    lease.start_heartbeat()
    outbox = ReportingOutbox(config.outbox_path, say)  # the game deletes what it delivered
    deliverer = Deliverer(outbox, config, lambda: world, close_world=False, lease=lease).start()
    say(READY)
    stdin = sys.stdin.fileno()
    while deliverer.lost is None:
        readable, _w, _x = select.select([stdin], [], [], CHILD_TICK)
        if readable:
            if not os.read(stdin, 4096):  # the game closed our input: it stops, or died
                break
            deliverer.wake()

    def finish() -> None:
        if deliverer.lost is None:
            lease.release()
        else:
            lease.stop_heartbeat()
        outbox.close()
        world.close()

    # A round still in a store call after the timeout: the thread calls finish as it
    # ends (or the process exits first, and the lease is taken over after its timeout).
    deliverer.stop(config.shutdown_drain_timeout, then=finish)
    if deliverer.lost is not None:
        say(LOST + deliverer.lost)
        return EXIT_LEASE_LOST
    return 0


if __name__ == "__main__":
    sys.exit(main())
