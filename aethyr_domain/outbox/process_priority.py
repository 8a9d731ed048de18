"""Lower the CPU priority of a background child process (``background_nice``).

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
"""

from __future__ import annotations

import contextlib
import logging
import os

log = logging.getLogger(__name__)

#: The highest nice value (the lowest priority) on POSIX systems.
MAX_NICE = 19


def lower_priority(pid: int, increment: int) -> int | None:
    """Make process ``pid`` ``increment`` nice levels lower in priority than this
    process (capped at 19); its new nice value, or ``None`` when nothing was changed
    (``increment`` 0, no ``setpriority`` on this platform, or the call was refused,
    which is logged: a child at the same priority still works)."""
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


def _threads(pid: int) -> list[int]:
    """The ids of process ``pid``'s threads (Linux), or just ``pid`` elsewhere."""
    try:
        return [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return [pid]
