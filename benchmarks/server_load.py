"""The ``server-load`` scenario: action round trips through ``aethyr-es serve`` under load.

N socket clients (200; ``--quick``: 50) log in to a real ``aethyr-es serve`` process
and each does one action a second (a fixed mix: ``look``, ``get`` and ``drop`` of its
own pebble, ``inventory``, ``north``, ``south``: four of six change the world) for 60 s
(``--quick``: 15 s), each client starting at a random phase within the first second.
The round trip of an action is from sending its line to reading the prompt that ends
the player's own answer (the clients are asyncio connections in this process; the
server is a separate process, so the two do not share a GIL).

Modes (the columns):

- ``serve-off``: event sourcing off, the world in the game's own storage;
- ``serve-sqlite``: event sourcing on, SQLite store;
- ``serve-immudb-synced``: on, immudb with an fsync per commit;
- ``serve-immudb-outage``: the same while immudb is killed a third into the run and
  started again a few seconds later (the outbox keeps the game going).

Players live in pairs of rooms (ten per pair, linked north/south), as players of a
real MUD spread out: what others see (``X leaves.``) goes to the room, not to
everyone. The world (rooms, pebbles, players with one precomputed scrypt hash) is
seeded before the server starts. The ``AETHYR_*`` keys of this process's environment
are passed on to the server (A/B runs of its knobs, e.g. ``AETHYR_DELIVERY_PROCESS=0``).
Beside the latencies, each run reports the CPU-seconds per 1,000 actions that the
game's processes (``serve`` and its children) and the immudb server spent while the
clients played: steadier than a p99 on a shared machine, they show where work went.
``SERVER_LOAD_MODES`` picks modes, ``SERVER_LOAD_ROUNDS`` repeats them (alternating; the
median of each mode is reported) and ``SERVER_LOAD_LOGS`` keeps the servers' logs.
At the end the server is stopped with SIGTERM (it must exit 0, the outbox drained)
and writes its live world (``--dump-world``); with event sourcing on it must equal a
replay of the log and the read model (``live == replay == projection``), with it off
the world a new boot reads from the storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.cpu_time import cpu_seconds
from benchmarks.scenarios import Measure, percentile

MODES = ("serve-off", "serve-sqlite", "serve-immudb-synced", "serve-immudb-outage")
#: Run only these modes (comma-separated; for experiments), e.g. ``serve-off,serve-sqlite``.
ONLY = os.environ.get("SERVER_LOAD_MODES")
#: Keep each mode's server log as ``<folder>/<mode>.log`` (``<mode>-<round>.log`` with
#: several rounds) for diagnosis, e.g. ``/tmp/logs``.
KEEP_LOGS = os.environ.get("SERVER_LOAD_LOGS")


#: Rounds: every mode this many times, the modes alternating within each round, so
#: that a ratio of two modes compares runs of the same minutes (default 1; the figures
#: are the median over the rounds, live == replay == projection must hold in all).
def _rounds(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        msg = f"SERVER_LOAD_ROUNDS must be a whole number >= 1, not {value!r}"
        raise SystemExit(msg)
    return int(value)


ROUNDS = _rounds(os.environ.get("SERVER_LOAD_ROUNDS", "1"))
PASSWORD = "load-test-pw"
GROUP = 10  # players per pair of rooms
CYCLE = ("look", "get {pebble}", "inventory", "drop {pebble}", "north", "south")
#: What ends the acting player's own answer to each verb (before its prompt).
MARKERS = {
    "look": b"Exits:",
    "get": b"You take ",
    "inventory": b"You are wearing",
    "drop": b"You drop ",
    "north": b"Exits:",
    "south": b"Exits:",
}
PROMPT = b"\r\n> "
ROOT = Path(__file__).resolve().parents[1]
#: The prefix of the keys passed on from this process's environment to ``serve``, for
#: A/B runs of the server's own knobs (e.g. ``AETHYR_DELIVERY_PROCESS=0``); the keys a
#: mode sets itself (the store, its paths and addresses) win over them.
PASSED_ON = "AETHYR_"


@dataclasses.dataclass(frozen=True)
class LoadSize:
    clients: int
    seconds: float
    outage_seconds: float


LOAD_SIZES = {
    "full": LoadSize(200, 60.0, 5.0),
    "quick": LoadSize(50, 15.0, 3.0),
    "tiny": LoadSize(6, 3.0, 1.0),
}


# ------------------------------------------------------------------- world
def _env(mode: str, folder: Path, immudb: Any) -> dict[str, str]:
    env = {
        "AETHYR_STORAGE_PATH": str(folder / "world.sqlite"),
        "AETHYR_OUTBOX_PATH": str(folder / "outbox.sqlite"),
        "AETHYR_SQLITE_PATH": str(folder / "events.sqlite"),
        "AETHYR_SHUTDOWN_DRAIN_TIMEOUT": "120",
        "AETHYR_OUTBOX_DRAIN_TIMEOUT": "120",
        "AETHYR_IDLE_TIMEOUT": "600",
        "AETHYR_WRITER_LEASE_TIMEOUT": "60",
    }
    if mode == "serve-off":
        env["AETHYR_EVENT_SOURCING_ENABLED"] = "0"
    elif mode == "serve-sqlite":
        env.update(AETHYR_EVENT_SOURCING_ENABLED="1", AETHYR_EVENT_STORE="sqlite")
    else:
        env.update(
            AETHYR_EVENT_SOURCING_ENABLED="1",
            AETHYR_EVENT_STORE="immudb",
            AETHYR_IMMUDB_ADDRESS=immudb.host,
            AETHYR_IMMUDB_PORT=str(immudb.port),
            AETHYR_IMMUDB_DATABASE=f"load{os.getpid()}{int(time.time())}",
        )
    return env


def _config(env: dict[str, str]) -> Any:
    from aethyr_domain.config import ServerConfig

    return ServerConfig.load(environ=env)


def seed(env: dict[str, str], clients: int) -> list[str]:
    """Rooms, pebbles and players (one shared precomputed hash); returns the names."""
    from aethyr_domain import commands, passwords
    from aethyr_domain.game.manager import SYSTEM
    from aethyr_domain.game.session import boot
    from aethyr_domain.object_classes import lookup

    config = _config(env)
    manager = boot(config)
    names = []
    try:
        hashed = passwords.hash_password(PASSWORD)
        klass = lookup("Prop")
        assert klass is not None
        for group in range(0, clients, GROUP):
            south = manager.create_room(f"Yard {group // GROUP}", "A yard.").id
            north = manager.create_room(f"Barn {group // GROUP}", "A barn.").id
            manager.link_rooms(south, "north", north, actor=SYSTEM)
            for k in range(group, min(group + GROUP, clients)):
                name = f"p{k}"
                pid = manager.new_id()
                manager._change(  # one hash for all: seeding 200 scrypt hashes takes long
                    commands.CreatePlayer, SYSTEM, id=pid, name=name, password_hash=hashed
                )
                manager.move_object(pid, south, actor=SYSTEM)
                manager.create_object(
                    klass, south, name=f"pebble{k}", vars={"movable": True}, actor=SYSTEM
                )
                names.append(name)
        sink: Any = manager.sink
        if sink is not None and not sink.drain(300):
            raise RuntimeError("seeding: the outbox did not drain")
    finally:
        manager.close()
    return names


# ----------------------------------------------------------------- clients
class Player:
    """One asyncio connection playing one character."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buffer = bytearray()

    async def until(self, marker: bytes, then: bytes | None = None) -> None:
        """Read until ``marker`` (and, after it, ``then``) arrived; drop what came before."""
        index = self.buffer.find(marker)
        while index < 0:
            await self._more()
            index = self.buffer.find(marker)
        del self.buffer[: index + len(marker)]
        if then is not None:
            await self.until(then)

    async def _more(self) -> None:
        data = await self.reader.read(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        self.buffer += data

    def send(self, line: str) -> None:
        self.writer.write(line.encode() + b"\r\n")


async def _login(port: int, name: str) -> Player:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    player = Player(reader, writer)
    await player.until(b"known? ")
    player.send(name)
    await player.until(b"Password: ")
    player.send(PASSWORD)
    await player.until(b"Exits:", PROMPT)
    return player


async def _play(
    player: Player, index: int, start: float, seconds: float, latencies: list[float]
) -> None:
    rng = random.Random(index)
    due = start + rng.random()
    step = 0
    while due < start + seconds:
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        line = CYCLE[step % len(CYCLE)].format(pebble=f"pebble{index}")
        marker = MARKERS[line.split()[0]]
        sent = time.perf_counter()
        player.send(line)
        await player.until(marker, PROMPT)
        latencies.append((time.perf_counter() - sent) * 1000.0)
        step += 1
        due += 1.0


async def _load(
    port: int, names: list[str], seconds: float, during: Any = None, reading: Any = None
) -> tuple[list[float], float, Any]:
    """Log every player in, play for ``seconds``; the round trips (ms), the seconds
    played and ``reading()`` taken as play starts and as the last action ended (the
    logins and logouts are outside that window)."""
    gate = asyncio.Semaphore(16)

    async def login(name: str) -> Player:
        async with gate:
            return await _login(port, name)

    players = await asyncio.gather(*(login(n) for n in names))
    latencies: list[float] = []
    first = reading() if reading is not None else None
    start = time.perf_counter()
    tasks = [
        asyncio.create_task(_play(p, int(n[1:]), start, seconds, latencies))
        for p, n in zip(players, names, strict=True)
    ]
    if during is not None:
        await during(start)
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    last = reading() if reading is not None else None
    for player in players:
        player.send("quit")
    await asyncio.sleep(0.5)
    for player in players:
        player.writer.close()
    return latencies, elapsed, (first, last)


# ------------------------------------------------------------------ server
@contextlib.contextmanager
def _serve(env: dict[str, str], folder: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        **{key: value for key, value in os.environ.items() if key.startswith(PASSED_ON)},
        **env,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aethyr_domain.cli",
            "serve",
            "--port",
            "0",
            "--dump-world",
            str(folder / "live.json"),
        ],
        cwd=folder,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=open(folder / "serve.log", "w"),  # noqa: SIM115 - closed with the process
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if "serving on" not in line:
            raise RuntimeError(f"serve did not start: {(folder / 'serve.log').read_text()}")
        yield process, int(line.rsplit(":", 1)[1])
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _stop(process: subprocess.Popen[str], folder: Path) -> None:
    process.send_signal(signal.SIGTERM)
    code = process.wait(300)
    if code != 0:
        raise RuntimeError(f"serve exited {code}: {(folder / 'serve.log').read_text()[-2000:]}")


def _consistent(mode: str, env: dict[str, str], folder: Path) -> bool:
    """live == replay == projection (on); live == the storage's world (off)."""
    from aethyr_domain.cli.world import load_game_state
    from aethyr_domain.game.session import boot
    from aethyr_domain.read.world_dump import dumps

    live = (folder / "live.json").read_text(encoding="utf-8")
    config = _config(env)
    if mode == "serve-off":
        manager = boot(config)
        try:
            return dumps(manager.state) == live
        finally:
            manager.close()
    replay = dumps(load_game_state(config, "replay"))
    projection = dumps(load_game_state(config, "projection"))
    return live == replay == projection


def run_mode(
    mode: str, size: LoadSize, immudb: Any, log_name: str | None = None
) -> tuple[list[Measure], list[str]]:
    with tempfile.TemporaryDirectory(prefix="server-load-") as tmp:
        folder = Path(tmp)
        env = _env(mode, folder, immudb)
        names = seed(env, size.clients)
        during = None
        if mode == "serve-immudb-outage":

            async def outage(start: float) -> None:
                await asyncio.sleep(max(0.0, start + size.seconds / 3 - time.perf_counter()))
                await asyncio.to_thread(immudb.kill)
                await asyncio.sleep(size.outage_seconds)
                await asyncio.to_thread(immudb.start)

            during = outage
        try:
            with _serve(env, folder) as (process, port):
                on_immudb = env.get("AETHYR_EVENT_STORE") == "immudb" and immudb.running
                server = immudb.process.pid if on_immudb else None
                latencies, elapsed, (before, after) = asyncio.run(
                    _load(port, names, size.seconds, during, lambda: _cpu(process.pid, server))
                )
                _stop(process, folder)
            same = _consistent(mode, env, folder)
        finally:
            if KEEP_LOGS and (folder / "serve.log").exists():
                Path(KEEP_LOGS).mkdir(parents=True, exist_ok=True)
                kept = Path(KEEP_LOGS) / f"{log_name or mode}.log"
                shutil.copyfile(folder / "serve.log", kept)
    latencies.sort()
    measures = [
        Measure("server-load p50", statistics.median(latencies), "ms"),
        Measure("server-load p99", percentile(latencies, 99), "ms"),
        Measure("server-load actions/s", len(latencies) / elapsed, "actions/s"),
        Measure("server-load live==replay==projection", 1.0 if same else 0.0, "ok"),
    ]
    for index, name in enumerate(("game", "immudb")):
        if before[index] is not None and after[index] is not None:
            spent = after[index] - before[index]
            per_1k = spent / len(latencies) * 1000.0
            measures.append(Measure(f"server-load CPU-s {name} /1k actions", per_1k, "CPU-s"))
    return measures, []


def _cpu(game: int, immudb: int | None) -> tuple[float | None, float | None]:
    """CPU-seconds so far of the game's process tree (serve and its children) and of
    the immudb server (``None`` where not measured: the SQLite and off modes have no
    server, and the outage mode's server is a new process after the restart)."""
    return cpu_seconds(game), cpu_seconds(immudb, tree=False) if immudb else None


def server_load(quick: bool, size_name: str | None = None) -> dict[str, list[Measure]]:
    """Every mode once per round (``SERVER_LOAD_ROUNDS``); ``{mode: measures}``, the
    measures of all rounds in run order (a run that fails is left out, printed)."""
    from aethyr_immudb_recorder.launcher import ImmudbServer

    size = LOAD_SIZES[size_name or ("quick" if quick else "full")]
    out: dict[str, list[Measure]] = {}
    with ImmudbServer(synced=True) as immudb:
        for round_ in range(1, ROUNDS + 1):
            for mode in MODES:
                if ONLY and mode not in ONLY.split(","):
                    continue
                print(
                    f"server-load {mode} (round {round_}/{ROUNDS}): "
                    f"{size.clients} clients for {size.seconds:g} s",
                    flush=True,
                )
                log_name = mode if ROUNDS == 1 else f"{mode}-{round_}"
                try:
                    out.setdefault(mode, []).extend(run_mode(mode, size, immudb, log_name)[0])
                except Exception as exc:
                    print(f"  server-load {mode} failed: {exc!r}", flush=True)
                if not immudb.running:
                    immudb.start()
    return {mode: measures for mode, measures in out.items() if measures}


def targets(results: Any) -> list[str]:
    """The issue's server-load targets, as measured."""
    lines: list[str] = []
    p99 = {mode: results.median("server-load p99", mode) for mode in MODES}
    if all(value is None for value in p99.values()):
        return lines
    for mode, value in p99.items():
        if value is not None:
            verdict = "met" if value < 20.0 else "MISSED"
            lines.append(f"server-load p99 on {mode}: {value:.1f} ms (target < 20 ms) {verdict}")
    off = p99["serve-off"]
    for mode in ("serve-sqlite", "serve-immudb-synced"):
        if off and p99[mode] is not None:
            ratio = p99[mode] / off
            verdict = "met" if ratio <= 1.25 else "MISSED"
            lines.append(f"server-load p99 {mode} / off: {ratio:.2f}x (target <= 1.25x) {verdict}")
    base, outage = p99["serve-immudb-synced"], p99["serve-immudb-outage"]
    if base and outage is not None:
        ratio = outage / base
        verdict = "met" if ratio <= 1.25 else "MISSED"
        lines.append(
            f"server-load p99 during the immudb outage / without: {ratio:.2f}x "
            f"(target <= 1.25x) {verdict}"
        )
    for mode in MODES:
        runs = results.summaries.get(("server-load live==replay==projection", mode))
        if runs is not None:
            same = min(runs.values)  # every round, not the median
            lines.append(
                f"server-load {mode}: live == replay == projection "
                + ("met" if same == 1.0 else "MISSED")
            )
    return lines
