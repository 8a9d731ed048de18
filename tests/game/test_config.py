"""ServerConfig: defaults, TOML < env layering, one error for all bad keys, no password leaks."""

from __future__ import annotations

import logging

import pytest

from aethyr_domain import ServerConfig
from aethyr_domain.config import KEYS, ConfigError, Secret


def test_documented_defaults():
    config = ServerConfig.load(environ={})
    assert config.event_sourcing_enabled is False
    assert config.event_store == "immudb"
    assert (config.immudb_address, config.immudb_port) == ("127.0.0.1", 3322)
    assert config.immudb_username == "immudb"
    assert config.immudb_password.reveal() == "immudb"
    assert config.immudb_database == "aethyr"
    assert config.snapshot_threshold == 100


def test_file_then_env_later_wins(tmp_path):
    path = tmp_path / "aethyr.toml"
    path.write_text('event_store = "sqlite"\nimmudb_port = 4000\nsnapshot_threshold = 5\n')
    env = {"AETHYR_IMMUDB_PORT": "3323", "AETHYR_EVENT_SOURCING_ENABLED": "yes"}
    config = ServerConfig.load(path, environ=env)
    assert config.event_store == "sqlite"  # file
    assert config.immudb_port == 3323  # env beats file
    assert config.snapshot_threshold == 5
    assert config.event_sourcing_enabled is True


def test_config_file_from_env_variable(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("outbox_batch_size = 7\n")
    assert ServerConfig.load(environ={"AETHYR_CONFIG": str(path)}).outbox_batch_size == 7


def test_only_the_flag_turns_everything_on():
    config = ServerConfig.load(environ={"AETHYR_EVENT_SOURCING_ENABLED": "1"})
    assert config.event_sourcing_enabled
    assert config.eventsourcing_env()["PERSISTENCE_MODULE"] == "aethyr_immudb_recorder"


def test_one_error_lists_every_bad_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('event_store = "mongo"\nimmudb_port = 70000\nno_such_key = 1\n')
    env = {"AETHYR_SNAPSHOT_THRESHOLD": "lots", "AETHYR_EVENT_SOURCING_ENABLED": "maybe"}
    with pytest.raises(ConfigError) as info:
        ServerConfig.load(path, environ=env)
    text = str(info.value)
    for key in (
        "event_store",
        "immudb_port",
        "no_such_key",
        "snapshot_threshold",
        "event_sourcing_enabled",
    ):
        assert key in text
    assert len(info.value.problems) == 5


def test_type_errors_from_toml(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('immudb_port = "3322"\nimmudb_password = 5\nretry_max_delay = 0.01\n')
    with pytest.raises(ConfigError) as info:
        ServerConfig.load(path, environ={})
    assert {p.split(":")[0] for p in info.value.problems} == {"immudb_port", "immudb_password"}


def test_unreadable_and_invalid_toml(tmp_path):
    with pytest.raises(ConfigError, match="cannot be read"):
        ServerConfig.load(tmp_path / "missing.toml", environ={})
    bad = tmp_path / "broken.toml"
    bad.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        ServerConfig.load(bad, environ={})


def test_value_rules():
    with pytest.raises(ConfigError) as info:
        ServerConfig(
            immudb_address=" ",
            outbox_batch_size=0,
            retry_attempts=-1,
            retry_base_delay=2.0,
            retry_max_delay=1.0,
            outbox_drain_timeout=-1.0,
            snapshot_threshold=-1,
        )
    keys = {p.split(":")[0] for p in info.value.problems}
    assert keys == {
        "immudb_address",
        "outbox_batch_size",
        "retry_attempts",
        "retry_max_delay",
        "outbox_drain_timeout",
        "snapshot_threshold",
    }


def test_password_never_shown(caplog):
    secret = "hunter2-very-secret"
    config = ServerConfig(immudb_password=Secret(secret))
    caplog.set_level(logging.DEBUG)
    logging.getLogger("test").info("config: %s %r", config, config)
    assert secret not in repr(config)
    assert secret not in str(config)
    assert secret not in caplog.text
    assert secret not in str(config.redacted())
    with pytest.raises(ConfigError) as info:
        ServerConfig.load(environ={"AETHYR_IMMUDB_PASSWORD": secret, "AETHYR_IMMUDB_PORT": "x"})
    assert secret not in str(info.value)
    assert (
        ServerConfig.load(environ={"AETHYR_IMMUDB_PASSWORD": secret}).immudb_password.reveal()
        == secret
    )


def test_eventsourcing_env_per_store():
    immudb = ServerConfig(immudb_port=4444, immudb_database="game").eventsourcing_env()
    assert immudb["IMMUDB_PORT"] == "4444"
    assert immudb["IMMUDB_DATABASE"] == "game"
    assert immudb["IMMUDB_PASSWORD"] == "immudb"
    sqlite = ServerConfig(event_store="sqlite", sqlite_path="x.db").eventsourcing_env()
    assert sqlite == {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": "x.db",
        "ORIGINATOR_ID_TYPE": "text",
    }
    assert ServerConfig(event_store="popo").eventsourcing_env() == {
        "PERSISTENCE_MODULE": "eventsourcing.popo"
    }


def test_every_key_is_documented():
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    for key in KEYS:
        assert f"`{key}`" in doc
        assert f"`AETHYR_{key.upper()}`" in doc
