"""Logged-in immudb sessions handed from a closed datastore to the next one with the same login.

Every ``OpenSession`` makes immudb check the user's bcrypt password hash: about 66 ms
of the server's CPU per login (``docs/performance.md``), far more than any call made
in the session afterwards (a ``KeepAlive`` costs about 0.3 ms). A process that opens
and closes applications - a command-line tool running one command after another, a
test suite, a game that reopens its projections - logged in again for each one.

When an :class:`~aethyr_immudb_recorder.datastore.ImmudbDatastore` closes, its idle
sessions are *parked* here instead of closed; the next datastore of the same login
takes one before it logs in. A login is the server's address, the TLS settings, the
user, the password and the database (:func:`login_key`): a session is never handed to
a datastore that would not have been let in with its own settings, nor to another
database. The key holds the password and the TLS material only as an HMAC under a
random key made for this process, never the secret itself, and nothing here shows
either (no ``repr`` holds them).

Bounds:

* at most :data:`MAX_PARKED_PER_LOGIN` sessions per login; a closing datastore closes
  the rest as before;
* a session unused for :data:`MAX_PARKED_SECONDS` (well under immudb's 2-minute
  ``--session-timeout``) is closed the next time that login's parked sessions are
  looked at, and never handed out;
* the datastore that takes a session first sends a ``KeepAlive`` with it (one cheap
  call): a session the server forgot (a restart, an expiry) is dropped and the next
  one, or a new login, used instead;
* a session with an interactive transaction that did not end with a successful
  ``Commit`` or ``Rollback`` is never parked (the datastore closes it);
* at interpreter exit every parked session is closed (:func:`close_parked_sessions`,
  registered with :mod:`atexit`), with a short deadline, giving up on a login whose
  server does not answer;
* a child process forked from this one starts with none: its parent's sessions stay
  the parent's (``os.register_at_fork``).

``IMMUDB_SESSION_REUSE=no`` turns it off for a datastore (it then parks nothing and
takes nothing). :func:`close_parked_sessions` may also be called at any time.
"""

from __future__ import annotations

import atexit
import collections
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf import empty_pb2
from immudb.grpc import schema_pb2_grpc

if TYPE_CHECKING:
    from aethyr_immudb_recorder.datastore import Session
    from aethyr_immudb_recorder.settings import ImmudbSettings

#: Most sessions parked per login (the others are closed by the datastore that closes).
MAX_PARKED_PER_LOGIN = 8
#: Seconds a parked session may have been unused; immudb forgets a session idle for its
#: ``--session-timeout`` (2 minutes by default, checked every minute).
MAX_PARKED_SECONDS = 45.0
#: Deadline in seconds of each ``CloseSession`` sent for a parked session.
CLOSE_TIMEOUT = 1.0

#: The key the password and TLS material are hashed under; made anew in each process.
_PROCESS_SECRET = secrets.token_bytes(32)

LoginKey = tuple[str, str, str, str, str]
"""``(address, TLS digest, user, password digest, database)``."""


def _digest(*parts: bytes | None) -> str:
    mac = hmac.new(_PROCESS_SECRET, digestmod=hashlib.sha256)
    for part in parts:
        data = b"" if part is None else part
        mac.update(len(data).to_bytes(8, "big") + (b"-" if part is None else b"+") + data)
    return mac.hexdigest()


def login_key(settings: ImmudbSettings) -> LoginKey:
    """What two datastores must share to share a session: server address, TLS
    settings (CA, client certificate and key, server name), user, password, database.

    The secrets are only kept as an HMAC under a key made for this process.
    """
    tls = _digest(
        settings.tls_ca,
        settings.tls_cert,
        settings.tls_key,
        None if settings.tls_server_name is None else settings.tls_server_name.encode(),
    )
    return (
        settings.address,
        tls,
        settings.user,
        _digest(settings.password.encode()),
        settings.database,
    )


Closer = Callable[["Session"], None]
"""Sends ``CloseSession`` for one session (through a datastore's open channel)."""

ChannelOpener = Callable[[], grpc.Channel]
"""Opens a new channel to the login's server (to close what is left at exit)."""


class _Login:
    """The parked sessions of one login, newest last, and how to reach their server."""

    __slots__ = ("open_channel", "sessions")

    def __init__(self, open_channel: ChannelOpener) -> None:
        self.sessions: collections.deque[Session] = collections.deque()
        self.open_channel = open_channel


class ParkedSessions:
    """Idle, logged-in sessions of closed datastores, by login (thread-safe).

    The module keeps one, :data:`PARKED`; tests may make their own.
    """

    def __init__(
        self, *, per_login: int = MAX_PARKED_PER_LOGIN, max_seconds: float = MAX_PARKED_SECONDS
    ) -> None:
        self.per_login = per_login
        self.max_seconds = max_seconds
        self._lock = threading.Lock()
        self._logins: dict[LoginKey, _Login] = {}

    def __repr__(self) -> str:
        return f"ParkedSessions({self.count()} parked, {len(self._logins)} logins)"

    def count(self, key: LoginKey | None = None) -> int:
        """How many sessions are parked (for ``key``, or in all)."""
        with self._lock:
            if key is not None:
                login = self._logins.get(key)
                return 0 if login is None else len(login.sessions)
            return sum(len(login.sessions) for login in self._logins.values())

    def park(
        self,
        key: LoginKey,
        sessions: list[Session],
        close: Closer,
        open_channel: ChannelOpener,
    ) -> None:
        """Keep ``sessions`` (idle, without an open transaction) for the next datastore
        of ``key``; those over the bound, and any unused too long, are closed with
        ``close``. ``open_channel`` reaches their server later (at exit)."""
        now = time.monotonic()
        with self._lock:
            login = self._logins.get(key)
            if login is None:
                login = self._logins[key] = _Login(open_channel)
            login.sessions.extend(sessions)
            expired = self._expired(login, now)
            overflow = []
            while len(login.sessions) > self.per_login:
                overflow.append(login.sessions.popleft())  # the oldest go first
        for session in (*expired, *overflow):
            close(session)

    def take(self, key: LoginKey, close: Closer) -> Session | None:
        """The most recently parked session of ``key``, or ``None``; sessions parked
        too long are closed with ``close`` on the way."""
        now = time.monotonic()
        with self._lock:
            login = self._logins.get(key)
            if login is None:
                return None
            expired = self._expired(login, now)
            session = login.sessions.pop() if login.sessions else None
            if not login.sessions:
                del self._logins[key]
        for old in expired:
            close(old)
        return session

    def _expired(self, login: _Login, now: float) -> list[Session]:
        """Remove and return the sessions of ``login`` unused for ``max_seconds``."""
        fresh = [s for s in login.sessions if now - s.last_used < self.max_seconds]
        if len(fresh) == len(login.sessions):
            return []
        old = [s for s in login.sessions if now - s.last_used >= self.max_seconds]
        login.sessions.clear()
        login.sessions.extend(fresh)
        return old

    def forget(self) -> None:
        """Drop every parked session without closing it (they belong to another process:
        a child forked from this one must not use or close its parent's sessions)."""
        self._lock = threading.Lock()  # another thread of the parent may have held it
        self._logins = {}

    def close_all(self) -> int:
        """Close every parked session (one channel per login, short deadlines); how many
        were closed. A login whose server does not answer is given up on at its first
        failure (the server forgets the sessions itself)."""
        with self._lock:
            logins = list(self._logins.values())
            self._logins.clear()
        closed = 0
        for login in logins:
            closed += _close_sessions(login.open_channel, list(login.sessions))
        return closed


def _close_sessions(open_channel: ChannelOpener, sessions: list[Session]) -> int:
    if not sessions:
        return 0
    closed = 0
    try:
        channel = open_channel()
    except Exception:  # a TLS file that went away, say: the server forgets them itself
        return 0
    try:
        stub: Any = schema_pb2_grpc.ImmuServiceStub(channel)
        for session in sessions:
            try:
                stub.CloseSession(
                    empty_pb2.Empty(), metadata=session.metadata, timeout=CLOSE_TIMEOUT
                )
            except grpc.RpcError as exc:
                if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    break  # no server there: do not wait for each of the others
                continue  # already forgotten by the server
            closed += 1
    finally:
        with suppress(Exception):
            channel.close()
    return closed


PARKED = ParkedSessions()
"""The process's parked sessions (what :class:`ImmudbDatastore` uses)."""


def close_parked_sessions() -> int:
    """Close every session parked in this process; how many were closed (also run at exit)."""
    return PARKED.close_all()


atexit.register(close_parked_sessions)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=PARKED.forget)
