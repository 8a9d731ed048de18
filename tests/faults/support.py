"""Helpers shared by the fault tests: configs, config files and store counts."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from aethyr_domain.application import World
from aethyr_domain.config import ServerConfig
from aethyr_domain.game.manager import Manager
from aethyr_domain.game.session import BootError, boot
from aethyr_domain.outbox.event_store import iter_notifications


def immudb_config(server: Any, database: str, tmp_path: Path, **extra: Any) -> ServerConfig:
    """An event-sourcing config pointing at ``server``/``database``, files under tmp_path."""
    values: dict[str, Any] = {
        "event_sourcing_enabled": True,
        "event_store": "immudb",
        "immudb_address": server.host,
        "immudb_port": server.port,
        "immudb_database": database,
        "immudb_state_file": str(tmp_path / "immudb-state.json"),
        "outbox_path": str(tmp_path / "outbox.sqlite"),
        "outbox_poll_interval": 0.05,
        "outbox_drain_timeout": 120.0,
        "retry_base_delay": 0.05,
        "retry_max_delay": 0.5,
    }
    values.update(extra)
    return ServerConfig(**values)


def write_config_file(config: ServerConfig, path: Path) -> Path:
    """The config as a TOML file (``--config``), the password included."""
    lines = []
    for key, value in config.redacted().items():
        if key == "immudb_password":
            value = config.immudb_password.reveal()
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float)):
            text = repr(value)
        elif isinstance(value, tuple):  # immudb_replicas: a TOML array of strings
            text = "[" + ", ".join('"' + str(v) + '"' for v in value) + "]"
        else:
            text = '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        lines.append(f"{key} = {text}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def event_keys(app: World) -> Counter[tuple[str, int]]:
    """(aggregate id, version) of every stored event, counted (duplicates show as > 1)."""
    return Counter((str(n.originator_id), n.originator_version) for n in iter_notifications(app))


def boot_after_lease(config: ServerConfig, wait: float = 60.0, poll: float = 0.2) -> Manager:
    """Boot, waiting out a killed predecessor's writer lease (it could not release it)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return boot(config)
        except BootError as exc:
            if "lease" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(poll)
