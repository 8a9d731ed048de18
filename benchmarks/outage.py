"""Recovery after an immudb outage: how long the game's backlog takes to drain once the
server is back.

The target of the "Durable speed" issue: *a 2,000-action session with a 10 s immudb
outage is fully delivered within 5 s of the server's return*. This script plays that
session against a real, synced immudb (a throwaway server in a temporary directory)::

    python -m benchmarks.outage [--actions 2000] [--outage 10] [--retry-max-delay S]

1. It boots the game (:func:`aethyr_domain.game.session.boot`, event sourcing on, the game's
   default delivery settings unless overridden) and plays the scripted load of the fault
   tests (:class:`tests.faults.game_load.GameLoad`: players walking, taking and dropping
   things, an admin rewriting descriptions): 30 % of the actions first;
2. SIGKILLs the server (a crash, possibly in the middle of a group commit) and plays
   45 % of the actions spread over the outage, which pile up in the outbox;
3. restarts the server on the same data directory, plays the rest at once, and waits
   until the outbox is empty.

It prints the figure the target is about (seconds from the server's return, i.e. from
the moment ``ImmudbServer.start`` returned with the server accepting connections, to an
empty backlog), and around it: the backlog at the return, when the first entry after the
return was delivered, the restart time itself and the action latency. The same session
(with a 30 s outage and fast retry settings) is checked for correctness, not timed, by
``tests/faults/test_server_crash.py``.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from prometheus_client import REGISTRY

from aethyr_domain.config import ServerConfig
from aethyr_domain.game.session import boot
from aethyr_domain.outbox.event_sink import OutboxSink
from aethyr_immudb_recorder.launcher import ImmudbServer
from tests.faults.game_load import GameLoad

BEFORE, DURING = 0.30, 0.45
"""Shares of the actions played before and during the outage (the rest after)."""


def delivered_total() -> float:
    """The process's ``aethyr_outbox_delivered`` counter."""
    return REGISTRY.get_sample_value("aethyr_outbox_delivered_total") or 0.0


def run(actions: int, outage: float, overrides: dict[str, float]) -> dict[str, float]:
    """Play the session once; the measured figures (seconds unless named otherwise)."""
    with tempfile.TemporaryDirectory(prefix="bench-outage-") as tmp:
        path = Path(tmp)
        server = ImmudbServer(synced=True, data_dir=path / "immudb").start()
        config = ServerConfig(
            event_sourcing_enabled=True,
            event_store="immudb",
            immudb_address=server.host,
            immudb_port=server.port,
            immudb_database="aethyr",
            immudb_state_file=str(path / "immudb-state.json"),
            outbox_path=str(path / "outbox.sqlite"),
            **overrides,  # type: ignore[arg-type]
        )
        manager = boot(config)
        sink = manager.sink
        if not isinstance(sink, OutboxSink):
            raise RuntimeError(f"expected the outbox sink, got {type(sink).__name__}")
        try:
            load = GameLoad(manager)
            before = int(actions * BEFORE)
            during = int(actions * DURING)
            after = actions - before - during
            for _ in range(before):
                load.next_action()
            server.kill()
            killed_at = time.monotonic()
            spacing = max(0.0, outage - 1.0) / max(1, during)
            for _ in range(during):
                load.next_action()
                time.sleep(spacing)
            while time.monotonic() - killed_at < outage:
                time.sleep(0.01)
            backlog_at_kill_end = sink.backlog()
            restart_began = time.monotonic()
            server.start()  # same port, same data dir; returns once it accepts connections
            returned = time.monotonic()
            delivered_at_return = delivered_total()
            first_delivery = None
            for _ in range(after):
                load.next_action()
                if first_delivery is None and delivered_total() > delivered_at_return:
                    first_delivery = time.monotonic()
            backlog_after_actions = sink.backlog()
            while sink.backlog():
                if first_delivery is None and delivered_total() > delivered_at_return:
                    first_delivery = time.monotonic()
                if time.monotonic() - returned > 300:
                    raise RuntimeError(f"backlog {sink.backlog()} after 300 s")
                time.sleep(0.01)
            drained = time.monotonic()
            if first_delivery is None:
                first_delivery = drained
        finally:
            manager.close()
            server.stop()
    latencies = sorted(load.latencies)
    return {
        "actions": float(load.step),
        "backlog at return": float(backlog_at_kill_end),
        "backlog after the last action": float(backlog_after_actions),
        "restart": returned - restart_began,
        "first delivery after return": first_delivery - returned,
        "drained after return": drained - returned,
        "actions after return": float(after),
        "action latency p50 ms": latencies[len(latencies) // 2] * 1000,
        "action latency p99 ms": latencies[int(len(latencies) * 0.99)] * 1000,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.outage", description=__doc__)
    parser.add_argument("--actions", type=int, default=2000)
    parser.add_argument("--outage", type=float, default=10.0, help="seconds the server is down")
    parser.add_argument(
        "--retry-max-delay",
        type=float,
        default=None,
        help="the game's retry_max_delay (default: the game's default)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    overrides: dict[str, float] = {}
    if args.retry_max_delay is not None:
        overrides["retry_max_delay"] = args.retry_max_delay
    figures = run(args.actions, args.outage, overrides)
    settings = ServerConfig(**overrides)  # type: ignore[arg-type]
    print(
        f"outage: {args.outage:g} s, synced immudb; delivery settings: batch "
        f"{settings.outbox_batch_size}, poll {settings.outbox_poll_interval} s, retry "
        f"{settings.retry_base_delay}-{settings.retry_max_delay} s x {settings.retry_attempts}"
    )
    for name, value in figures.items():
        print(f"  {name}: {value:,.3f}" if value % 1 else f"  {name}: {value:,.0f}")
    verdict = "met" if figures["drained after return"] <= 5.0 else "MISSED"
    print(f"target (fully delivered <= 5 s after the server's return): {verdict}")


if __name__ == "__main__":
    main()
