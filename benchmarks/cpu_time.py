"""CPU-seconds (user + system) of a process and its descendants, from Linux's ``/proc``.

Latency on a shared 2-core machine is noisy: the same code's p99 can double between
runs an hour apart. The CPU a run *costs* is much steadier, so the scenarios that
start processes (``server-load``) report it beside their latencies: what each
process tree spent during the timed window, as the difference of two readings.

A reading covers the processes alive at that moment (each one's own threads
included). A descendant that exits between the readings takes its CPU with it, so
read around a window in which the tree does not change. Off Linux (no ``/proc``)
a reading is ``None`` and the measure is left out.
"""

from __future__ import annotations

import os
from pathlib import Path

_PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    return text.rsplit(")", 1)[1].split()


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def cpu_seconds(pid: int, *, tree: bool = True) -> float | None:
    """User + system CPU-seconds of ``pid`` (and, with ``tree``, its live descendants);
    ``None`` when ``pid`` is gone (a server killed in the window has no reading)."""
    if not _PROC.is_dir() or _stat_fields(pid) is None:
        return None
    total = 0.0
    for each in _descendants(pid) if tree else [pid]:
        fields = _stat_fields(each)
        if fields is not None:  # utime and stime: fields 14 and 15 of stat(5)
            total += (int(fields[11]) + int(fields[12])) / _TICKS
    return total
