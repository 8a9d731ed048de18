"""Lower the CPU priority of a background child process (``background_nice``,
``background_idle``).

``serve`` starts helpers beside the game: the world projection and the outbox
delivery. On a machine with few cores they compete with the game's own thread for
a CPU, and each time they win the player whose action is being decided waits. The
players' answers matter more than how fast the read model or the store catch up, so
``serve`` raises the helpers' nice value (:func:`lower_priority`): the kernel then
gives the game the CPU first whenever both are runnable, and the helpers take what
is left (on an idle machine, all of it).

On Linux a nice value belongs to one thread (``setpriority`` on a process id changes
its main thread only), and a new thread inherits it from the thread that starts it:
:func:`lower_priority` therefore sets it on every thread the process has
(``/proc/<pid>/task``), and the threads it starts later follow.

A nice value changes the helpers' *share* of a contended CPU, not how soon the game
gets one: Linux's scheduler (EEVDF, since 6.6) lets the task on a CPU run until its
time slice is used (a few milliseconds), and a game thread that wakes meanwhile waits
whatever the nice values. With ``idle`` (``background_idle``, the default) the helpers
also run under the ``SCHED_IDLE`` policy: an ordinary task that wakes preempts an idle
one at once. An unprivileged process may move its own children to it. The price: on
a machine whose CPUs stay busy with ordinary tasks the helpers get almost nothing
until the load drops (the outbox keeps every change meanwhile; the read model and the
store fall behind), where nice 10 still gave them about a tenth.
"""

from __future__ import annotations

import contextlib
import logging
import os

log = logging.getLogger(__name__)

#: The highest nice value (the lowest priority) on POSIX systems.
MAX_NICE = 19


def lower_priority(pid: int, increment: int, *, idle: bool = False) -> int | None:
    """Make process ``pid`` ``increment`` nice levels lower in priority than this
    process (capped at 19); its new nice value, or ``None`` when nothing was changed
    (``increment`` 0, no ``setpriority`` on this platform, or the call was refused,
    which is logged: a child at the same priority still works).

    ``idle``: also move every thread of ``pid`` to the ``SCHED_IDLE`` policy (Linux;
    elsewhere, or if refused, nothing more happens, logged). See the module docstring.
    """
    if idle:
        to_idle(pid)
    if increment <= 0 or not hasattr(os, "setpriority"):
        return None
    try:
        nice = min(os.getpriority(os.PRIO_PROCESS, 0) + increment, MAX_NICE)
        for thread in _threads(pid):
            with contextlib.suppress(ProcessLookupError):  # a thread that just ended
                os.setpriority(os.PRIO_PROCESS, thread, nice)
    except OSError as exc:
        log.warning("cannot lower the priority of process %d: %s", pid, exc)
        return None
    return nice


def to_idle(pid: int) -> bool:
    """Move every thread of process ``pid`` to ``SCHED_IDLE``; True if that was done
    (False where there is no such policy, or the call was refused, which is logged)."""
    policy = getattr(os, "SCHED_IDLE", None)
    if policy is None or not hasattr(os, "sched_setscheduler"):
        return False
    try:
        for thread in _threads(pid):
            with contextlib.suppress(ProcessLookupError):  # a thread that just ended
                os.sched_setscheduler(thread, policy, os.sched_param(0))
    except OSError as exc:
        log.warning("cannot move process %d to SCHED_IDLE: %s", pid, exc)
        return False
    return True


def _threads(pid: int) -> list[int]:
    """The ids of process ``pid``'s threads (Linux), or just ``pid`` elsewhere."""
    try:
        return [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return [pid]
