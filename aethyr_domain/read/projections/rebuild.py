"""Blue/green rebuild of the read model: ``aethyr-es rebuild``.

The game keeps writing while this runs:

0. what an earlier, interrupted rebuild left behind is dropped first
   (:func:`cleanup`): every generation that is not ``active`` - a half-built
   ``building`` one (the process crashed or was stopped during the replay) or
   a ``retired`` one (it stopped between the switch and the drop). Only one
   rebuild may run at a time: a second one would take the first one's
   ``building`` generation for abandoned and drop it;
1. a new generation ``N+1`` is created next to the active one ``N`` (fresh,
   versioned tables ``rm<N+1>_*`` with every migration applied; status
   ``building``); readers still use ``N``;
2. the whole event log is replayed into it, in batches (one transaction per
   batch, tracking the batch's last event), passing after pass until a pass
   finds nothing new - it has caught up with the moving head of the log;
3. readers are switched over: ``N+1`` becomes ``active`` (one metadata write),
   a last pass applies what arrived during the switch;
4. generation ``N``'s tables are dropped. A running ``aethyr-es project``
   notices the switch and re-attaches to ``N+1``.

Progress is shown as a bar on a terminal (events done, rate, ETA) and exported
as metrics (:mod:`.metrics`).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

from eventsourcing.application import Application

from aethyr_domain.read.projections import metrics
from aethyr_domain.read.projections.projection import WorldProjection
from aethyr_domain.read.projections.runner import ProjectionService
from aethyr_domain.read.projections.view import ACTIVE, WorldView

BATCH_SIZE = 100


@dataclass(frozen=True)
class RebuildReport:
    """What a rebuild did."""

    old_generation: int
    new_generation: int
    events: int
    seconds: float
    cleaned_up: tuple[int, ...] = ()
    """Generations an interrupted rebuild had left behind, dropped first."""

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "old_generation": self.old_generation,
            "new_generation": self.new_generation,
            "events": self.events,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.rate, 1),
            "cleaned_up": list(self.cleaned_up),
        }


class Progress:
    """Progress of a rebuild: metrics always, a bar on ``stream`` when it is a terminal."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 30) -> None:
        self.total = max(total, 0)
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.width = width
        self.done = 0
        self.started = time.monotonic()
        self._counted_until = self.started  # rebuild seconds counted up to here
        self._last_draw = 0.0
        self._label = WorldProjection.name

    def update(self, position: int) -> None:
        """The rebuild has applied every event up to notification ``position``."""
        new = position - self.done
        if new > 0:
            metrics.REBUILD_EVENTS.labels(self._label).inc(new)
        now = time.monotonic()
        metrics.REBUILD_SECONDS.labels(self._label).inc(now - self._counted_until)
        self._counted_until = now
        self.done = max(self.done, position)
        self.total = max(self.total, self.done)
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        metrics.REBUILD_PROGRESS.labels(self._label).set(self.ratio)
        if self.tty and (now - self._last_draw > 0.1 or self.done >= self.total):
            self._last_draw = now
            self.stream.write("\r" + self.line(rate))
            self.stream.flush()

    @property
    def ratio(self) -> float:
        return 1.0 if self.total == 0 else min(self.done / self.total, 1.0)

    def line(self, rate: float) -> str:
        filled = int(self.width * self.ratio)
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        bar = "#" * filled + "." * (self.width - filled)
        return f"rebuild [{bar}] {self.done}/{self.total} events {rate:,.0f} ev/s ETA {eta:.0f}s"

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def cleanup(view: WorldView) -> tuple[int, ...]:
    """Drop every generation but the active one (and ``view``'s own): the tables,
    tracking and migration rows a crashed or interrupted rebuild left behind.
    Returns the dropped generation numbers. Idempotent; run by :func:`rebuild`
    before it starts and by ``aethyr-es rebuild --cleanup``."""
    dropped = []
    for generation, status in sorted(view.generations().items()):
        if status != ACTIVE and generation != view.generation:
            view.drop_generation(generation)
            dropped.append(generation)
    return tuple(dropped)


def rebuild(app: Application[Any], view: WorldView, stream: TextIO | None = None) -> RebuildReport:
    """Replay the whole log into a new generation, switch readers to it, drop the old one.

    ``view`` is any view on the store (its generation is the active one); the
    returned report names the new generation. Use ``view.open_generation(report.
    new_generation)`` to keep working with the rebuilt tables.
    """
    started = time.monotonic()
    cleaned = cleanup(view)
    old = view.active_generation()
    new_generation = max(view.generations(), default=0) + 1
    fresh = view.open_generation(new_generation)
    service = ProjectionService(app, fresh)
    progress = Progress(app.recorder.max_notification_id() or 0, stream)
    metrics.REBUILD_PROGRESS.labels(WorldProjection.name).set(0)
    events = 0
    while True:
        applied = service.catch_up(progress=progress.update, batch_size=BATCH_SIZE)
        events += applied
        if applied == 0:
            break
    fresh.activate()
    events += service.catch_up(progress=progress.update, batch_size=BATCH_SIZE)
    progress.finish()
    if old is not None and old != new_generation:
        fresh.drop_generation(old)
    return RebuildReport(old or 0, new_generation, events, time.monotonic() - started, cleaned)
