"""``aethyr-es serve``: the game as an asyncio telnet server.

One event loop serves every connection (:mod:`aethyr_domain.game.telnet` decodes the
bytes); one *game thread* runs every call into the
:class:`~aethyr_domain.game.manager.Manager` and :class:`~aethyr_domain.game.actions.Actions`
(a single-worker executor), so the game - which is not thread-safe - sees one action at
a time, in arrival order. Password hashes are checked on other threads (scrypt costs
tens of milliseconds; the game thread only reads the stored hash).

Group commit (:mod:`aethyr_domain.game.group_commit`). A player's action is acknowledged
only once what it changed is on disk (the outbox with event sourcing on, the game's
storage with it off), and each write is flushed. The actions that arrive while the
game thread is busy - deciding, or flushing the previous group - queue up; the game
thread then decides them all, in arrival order, one by one, writes their changes in
one transaction (one flush) and sends the replies (a read-only action before the
group's first change is answered at once). If that write fails, none of the group's
players is told their action happened, and the game's memory is put back to what is
on disk. Logins run the same way, each as a group of its own.

A session: the name, then the password (the client's echo is turned off while it is
typed); an unknown name creates a player after the password was typed twice. A second
login of a player takes the session over (the old connection is told and closed). Then
each line is one action (``Actions.perform``) and every line gets an answer and a
prompt; ``quit`` ends the session, and so does ``idle_timeout`` seconds of silence.

Text for other players: :meth:`Actions.perform`'s ``(player id, text)`` pairs go to
each recipient's session; anything else the game wants to tell a player goes through
``Manager.send(player_id, text)``, which the server wires to :meth:`GameServer.deliver`
(thread-safe).

SIGTERM (or SIGINT): stop accepting, tell the players, close their sessions, drain
the outbox for at most ``shutdown_drain_timeout`` seconds, close the Manager (this
stops delivery and releases the writer lease) and return.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aethyr_domain import passwords
from aethyr_domain.config import ServerConfig
from aethyr_domain.errors import InvalidCommandError
from aethyr_domain.game import telnet
from aethyr_domain.game.actions import Actions, Output
from aethyr_domain.game.group_commit import GroupCommit, Reply, perform_group
from aethyr_domain.game.manager import GameError, Manager
from aethyr_domain.validation import player_name

log = logging.getLogger(__name__)

T = TypeVar("T")

PROMPT = "> "
WELCOME = "Welcome to Aethyr.\n"
SHUTDOWN_MESSAGE = "The server is shutting down. Goodbye."
TAKEN_OVER_MESSAGE = "Your character was logged in from another connection. Goodbye."
IDLE_MESSAGE = "You have been idle too long. Goodbye."
TOO_MANY_FAILURES = "Too many wrong passwords. Goodbye."
#: Wrong passwords one connection may type before it is closed.
MAX_LOGIN_FAILURES = 3
#: The most actions one group commit takes (the rest wait for the next group).
MAX_GROUP = 128

_Queued = tuple[str, str, "asyncio.Future[Output]"]

#: The GIL switch interval ``serve`` sets (Python's default is 5 ms). The game thread
#: mostly waits - for a flush, for SQLite - and must take the GIL back each time; while
#: the delivery thread runs Python (the immudb client builds and checks every append),
#: that took up to one interval per wait. ``sys.setswitchinterval``.
SWITCH_INTERVAL = 0.001


class SessionClosedError(Exception):
    """The connection ended (client gone, quit, idle, takeover or shutdown)."""


@dataclass(eq=False)
class Session:
    """One connection: its telnet state, and its player once logged in."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    decoder: telnet.TelnetDecoder = field(default_factory=telnet.TelnetDecoder)
    lines: list[str] = field(default_factory=list)
    player_id: str | None = None
    closed: bool = False

    def write(self, text: str) -> None:
        if not self.closed and not self.writer.is_closing():
            self.writer.write(telnet.encode(text))

    def write_raw(self, data: bytes) -> None:
        if not self.closed and not self.writer.is_closing():
            self.writer.write(data)

    async def readline(self, timeout: float) -> str:
        """The next line; :class:`SessionClosedError` at end of input or after ``timeout``."""
        while not self.lines:
            if self.closed:
                raise SessionClosedError
            try:
                data = await asyncio.wait_for(self.reader.read(4096), timeout)
            except TimeoutError:
                raise SessionClosedError(IDLE_MESSAGE) from None
            except (ConnectionError, OSError):
                raise SessionClosedError from None
            if not data:
                raise SessionClosedError
            lines, replies = self.decoder.feed(data)
            if replies:
                self.write_raw(replies)
            self.lines.extend(lines)
        return self.lines.pop(0)

    def close(self, message: str | None = None) -> None:
        if self.closed:
            return
        if message:
            self.write(message + "\n")
        self.closed = True
        with contextlib.suppress(Exception):
            self.writer.close()


class GameServer:
    """The telnet server over one booted :class:`Manager`.

    Use :meth:`start` then :meth:`wait_closed` (what ``serve`` does), or
    :meth:`run` for both plus the signal handlers.
    """

    def __init__(self, manager: Manager, config: ServerConfig) -> None:
        self.manager = manager
        self.config = config
        self.actions = Actions(manager)
        self.sessions: dict[str, Session] = {}
        self.connections: set[Session] = set()
        self._game = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="aethyr-game")
        self._hashing = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="aethyr-kdf")
        self._server: asyncio.Server | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self.port: int | None = None
        # Actions waiting for the game thread's next group (see the module docstring);
        # ``_grouping``: a group job is queued or running on the game thread.
        self._queue: deque[_Queued] = deque()
        self._queue_lock = threading.Lock()
        self._grouping = False
        #: Test hook: called on the game thread right after the flush of a group that
        #: changed something (with its number of actions), before its replies.
        self.after_commit: Callable[[int], None] | None = None

    # ------------------------------------------------------------ running
    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (port 0: any free one); returns the port."""
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self.manager.deliver = self.deliver
        self._server = await asyncio.start_server(self._connection, host, port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._watcher = asyncio.create_task(self._watch_lease())
        log.info("serving on %s:%d", host, self.port)
        return self.port

    def request_stop(self) -> None:
        """Begin the shutdown (a signal handler calls this)."""
        if self._stopping is not None:
            self._stopping.set()

    async def wait_closed(self) -> None:
        """Wait for :meth:`request_stop`, then shut down: see the module docstring."""
        assert self._stopping is not None and self._server is not None
        await self._stopping.wait()
        if self._watcher is not None:
            self._watcher.cancel()
        self._server.close()
        for session in list(self.connections):
            session.close(SHUTDOWN_MESSAGE)
        if self._tasks:  # let each session end (its player dropped) on the game thread
            await asyncio.wait(set(self._tasks), timeout=10.0)
        await self._call(self._shutdown_game)
        self._game.shutdown(wait=True)
        self._hashing.shutdown(wait=False)

    async def run(
        self, host: str, port: int, *, ready: Callable[[int], None] | None = None
    ) -> None:
        """Serve until SIGTERM or SIGINT, then shut down."""
        bound = await self.start(host, port)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        if ready is not None:
            ready(bound)
        await self.wait_closed()

    async def _watch_lease(self) -> None:
        """Stop serving once delivery stopped for good (another process took the
        writer lease over): the game must not go on deciding what it cannot record."""
        while True:
            await asyncio.sleep(1.0)
            lost = getattr(self.manager.sink, "lost", None)
            if lost:
                log.error("stopping: %s", lost)
                self.request_stop()
                return

    def _shutdown_game(self) -> None:
        """On the game thread: everyone offline, the outbox drained (bounded)."""
        self.manager.online.clear()
        sink: Any = self.manager.sink
        if sink is not None and not sink.drain(self.config.shutdown_drain_timeout):
            log.warning(
                "%d command(s) not yet delivered after %ss; they stay in the outbox",
                sink.backlog(),
                self.config.shutdown_drain_timeout,
            )

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function`` on the game thread; a session still running while the
        server shuts down ends there (:class:`SessionClosedError`)."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._game, function, *args)
        except RuntimeError:
            if self._stopping is not None and self._stopping.is_set():
                raise SessionClosedError from None
            raise

    # ------------------------------------------------------- group commit
    async def _perform(self, player_id: str, line: str) -> Output:
        """One action, decided and written in the game thread's next group."""
        future: asyncio.Future[Output] = asyncio.get_running_loop().create_future()
        with self._queue_lock:
            self._queue.append((player_id, line, future))
            start, self._grouping = not self._grouping, True
        if start:
            self._submit_group()
        return await future

    def _submit_group(self) -> None:
        try:
            self._game.submit(self._run_group)
        except RuntimeError:  # the game thread has stopped: the server is shutting down
            with self._queue_lock:
                waiting = list(self._queue)
                self._queue.clear()
                self._grouping = False
            for _pid, _line, future in waiting:
                self._post(future, Reply([], SessionClosedError()))

    def _run_group(self) -> None:
        """On the game thread: perform every queued action (up to :data:`MAX_GROUP`)
        as one group commit, then hand the game thread over to whatever else waits
        for it before the next group."""
        with self._queue_lock:
            taken = [self._queue.popleft() for _ in range(min(len(self._queue), MAX_GROUP))]
        settled = 0
        try:

            def ready(index: int, reply: Reply) -> None:
                nonlocal settled
                self._post(taken[index][2], reply)
                settled += 1

            perform_group(
                self.manager,
                self.actions,
                [(pid, line) for pid, line, _future in taken],
                ready=ready,
                after_commit=self.after_commit,
            )
        except BaseException as exc:  # never leave a session waiting for its reply
            log.exception("a group of actions failed")
            for _pid, _line, future in taken[settled:]:
                self._post(future, Reply([], exc))
        finally:
            with self._queue_lock:
                more = bool(self._queue)
                self._grouping = more
            if more:
                self._submit_group()

    def _post(self, future: asyncio.Future[Output], reply: Reply) -> None:
        """Settle ``future`` with ``reply`` on the event loop (from any thread)."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop has ended: nobody to tell
            loop.call_soon_threadsafe(_settle, future, reply)

    # ----------------------------------------------------------- delivery
    def deliver(self, player_id: str, text: str) -> None:
        """Send ``text`` to ``player_id``'s session, from any thread (dropped if none)."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop has ended: nobody to tell
            loop.call_soon_threadsafe(self._deliver_now, player_id, text)

    def _deliver_now(self, player_id: str, text: str) -> None:
        session = self.sessions.get(player_id)
        if session is not None:
            session.write(text + "\n")

    def _send_output(self, actor: Session, output: list[tuple[str, str]]) -> None:
        for recipient, text in output:
            if recipient == actor.player_id:
                actor.write(text + "\n")
            else:
                other = self.sessions.get(recipient)
                if other is not None:
                    other.write("\n" + text + "\n" + PROMPT)

    # ----------------------------------------------------------- sessions
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(reader, writer)
        self.connections.add(session)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            session.write(WELCOME)
            player_id = await self._login(session)
            await self._play(session, player_id)
        except SessionClosedError as exc:
            if exc.args:
                session.close(str(exc.args[0]))
        except Exception:  # never let one connection take the server down
            log.exception("session failed")
        finally:
            self.connections.discard(session)
            pid = session.player_id
            if pid is not None and self.sessions.get(pid) is session:
                del self.sessions[pid]
                with contextlib.suppress(Exception):
                    await self._call(self.manager.drop_player, pid)
            session.close()

    async def _ask(self, session: Session, question: str) -> str:
        session.write(question)
        return (await session.readline(self.config.idle_timeout)).strip()

    async def _ask_secret(self, session: Session, *questions: str) -> list[str]:
        """Ask for passwords with the client's echo off (``IAC WILL ECHO`` before the
        first question, ``IAC WONT ECHO`` after the last: toggling between two
        questions would race the client's answers, RFC 1143)."""
        session.decoder.offer(telnet.ECHO)
        session.write_raw(telnet.will_echo())
        answers: list[str] = []
        try:
            for question in questions:
                answers.append(await self._ask(session, question))
                session.write("\n")
        finally:
            session.decoder.withdraw(telnet.ECHO)
            session.write_raw(telnet.wont_echo())
        return answers

    async def _login(self, session: Session) -> str:
        failures = 0
        while True:
            name = await self._ask(session, "By what name are you known? ")
            if not name:
                continue
            try:
                name = player_name(name)
            except InvalidCommandError as exc:
                session.write(f"{exc}\n")
                continue
            found = await self._call(self.manager.state.find_player_by_name, name)
            if found is not None:
                pid = await self._existing(session, found.id)
                if pid is None:
                    failures += 1
                    if failures >= MAX_LOGIN_FAILURES:
                        raise SessionClosedError(TOO_MANY_FAILURES)
            else:
                pid = await self._new_player(session, name)
            if pid is not None:
                return pid

    async def _existing(self, session: Session, player_id: str) -> str | None:
        (password,) = await self._ask_secret(session, "Password: ")
        stored = await self._call(self.manager.password_hash, player_id)
        loop = asyncio.get_running_loop()
        ok = bool(stored) and await loop.run_in_executor(
            self._hashing, passwords.verify_password, password, stored
        )
        if not ok:
            session.write("Wrong password.\n")
            return None
        await self._call(
            GroupCommit(self.manager).run,
            self.manager.upgrade_password,
            player_id,
            password,
            stored,
        )
        return player_id

    async def _new_player(self, session: Session, name: str) -> str | None:
        session.write(f"There is nobody called {name}; a new character it is.\n")
        first, second = await self._ask_secret(session, "Choose a password: ", "Type it again: ")
        if first != second:
            session.write("The passwords differ.\n")
            return None

        def create() -> str:
            if self.manager.state.find_player_by_name(name) is not None:
                raise GameError(f"The name {name} was just taken.")
            return self.manager.add_player(name, first).id

        try:
            return await self._call(GroupCommit(self.manager).run, create)
        except GameError as exc:
            session.write(f"{exc}\n")
            return None

    async def _play(self, session: Session, player_id: str) -> None:
        old = self.sessions.get(player_id)
        if old is not None and old is not session:
            old.player_id = None  # its clean-up must not drop the player
            old.close(TAKEN_OVER_MESSAGE)
        self.sessions[player_id] = session
        session.player_id = player_id

        def enter() -> list[tuple[str, str]]:
            self.manager.connect_player(player_id)
            return self.actions.perform(player_id, "look")

        self._send_output(session, await self._call(GroupCommit(self.manager).run, enter))
        session.write(PROMPT)
        while True:
            line = await session.readline(self.config.idle_timeout)
            output = await self._perform(player_id, line)
            if session.closed:
                return
            self._send_output(session, output)
            if line.strip().lower() == "quit" or self.manager.state.get(player_id) is None:
                session.close()  # quit (the game said goodbye), or the character deleted
                return
            session.write(PROMPT)


def _settle(future: asyncio.Future[Output], reply: Reply) -> None:
    if future.done():  # the session went away meanwhile
        return
    if reply.error is not None:
        future.set_exception(reply.error)
    else:
        future.set_result(reply.output)


def serve(manager: Manager, config: ServerConfig, host: str, port: int) -> None:
    """Run the server on the calling thread until SIGTERM/SIGINT (``aethyr-es serve``)."""

    def ready(bound: int) -> None:
        print(f"aethyr-es: serving on {host}:{bound}", flush=True)

    before = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        asyncio.run(GameServer(manager, config).run(host, port, ready=ready))
    finally:
        sys.setswitchinterval(before)
