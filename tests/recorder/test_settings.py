"""Configuration: defaults, prefixed keys, clear errors naming the keys, no secrets shown."""

from __future__ import annotations

import logging

import pytest
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from aethyr_immudb_recorder import ConfigurationError, ImmudbFactory, ImmudbSettings

SECRET = "Very-Secret-Pa55word"


def test_defaults() -> None:
    settings = ImmudbSettings.from_env(Environment(env={}))
    assert (settings.host, settings.port, settings.user, settings.password) == (
        "127.0.0.1",
        3322,
        "immudb",
        "immudb",
    )
    assert settings.database == "defaultdb"
    assert settings.create_table is True
    assert settings.max_tx_entries == 10_000
    assert settings.poll_interval == 0.05
    assert settings.address == "127.0.0.1:3322"
    assert settings.sync_frequency_ms is None  # the database keeps its own setting
    assert settings.group_commit is True


def test_sync_frequency_and_group_commit() -> None:
    env = Environment(env={"IMMUDB_SYNC_FREQUENCY_MS": "1", "IMMUDB_GROUP_COMMIT": "no"})
    settings = ImmudbSettings.from_env(env)
    assert (settings.sync_frequency_ms, settings.group_commit) == (1, False)


def test_prefixed_keys_win() -> None:
    env = Environment("World", {"WORLD_IMMUDB_PORT": "4000", "IMMUDB_PORT": "5000"})
    assert ImmudbSettings.from_env(env).port == 4000


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("IMMUDB_PORT", "not-a-port", "TCP port"),
        ("IMMUDB_PORT", "70000", "TCP port"),
        ("CREATE_TABLE", "perhaps", "boolean"),
        ("IMMUDB_POOL_SIZE", "0", "positive integer"),
        ("IMMUDB_TIMEOUT", "-1", "> 0"),
        ("IMMUDB_TIMEOUT", "nan", "finite"),
        ("IMMUDB_RETRY_DELAY", "soon", "number"),
        ("IMMUDB_MAX_RETRIES", "-2", ">= 0"),
        ("IMMUDB_DATABASE", "Bad Name!", "database name"),
        ("IMMUDB_MAX_TX_ENTRIES", "lots", "integer"),
        ("IMMUDB_SYNC_FREQUENCY_MS", "-1", ">= 0"),
        ("IMMUDB_SYNC_FREQUENCY_MS", "fast", "integer"),
        ("IMMUDB_GROUP_COMMIT", "maybe", "boolean"),
    ],
)
def test_invalid_values_name_both_keys(key: str, raw: str, expected: str) -> None:
    env = Environment("World", {f"WORLD_{key}": raw})
    with pytest.raises(ConfigurationError, match=expected) as caught:
        InfrastructureFactory.construct(
            Environment("World", {"PERSISTENCE_MODULE": "aethyr_immudb_recorder", **env})
        )
    assert f"'WORLD_{key}' or '{key}'" in str(caught.value)


def test_invalid_registry_topic_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="IMMUDB_METRICS_REGISTRY_TOPIC"):
        ImmudbFactory({"IMMUDB_METRICS_REGISTRY_TOPIC": "no.such.module:registry"})
    with pytest.raises(ConfigurationError, match="not a CollectorRegistry"):
        ImmudbFactory({"IMMUDB_METRICS_REGISTRY_TOPIC": "logging:root"})


def test_no_credential_in_reprs_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    factory = ImmudbFactory(Environment("World", {"IMMUDB_PASSWORD": SECRET}))
    try:
        assert factory.settings.password == SECRET
        texts = [
            repr(factory),
            repr(factory.settings),
            repr(factory.datastore),
            str(factory.settings),
        ]
        assert not any(SECRET in text for text in texts)
    finally:
        factory.close()
    assert not any(SECRET in record.getMessage() for record in caplog.records)


def test_key_names_are_written_once_in_settings() -> None:
    """settings.ImmudbKeys is the one home of the key names; the factory inherits
    them (``ImmudbFactory.IMMUDB_HOST``, eventsourcing style) and defines none itself."""
    from aethyr_immudb_recorder.settings import ImmudbKeys

    keys = {name: value for name, value in vars(ImmudbKeys).items() if name.isupper()}
    assert len(keys) >= 30
    assert all(name == value for name, value in keys.items())
    for name, value in keys.items():
        assert getattr(ImmudbFactory, name) == value
    own = {name for name in vars(ImmudbFactory) if name.startswith("IMMUDB_")}
    assert own == set()


def test_settings_does_not_import_the_factory() -> None:
    """No settings <-> factory cycle: settings.py imports nothing of the factory,
    not even inside a function."""
    import ast
    from pathlib import Path

    import aethyr_immudb_recorder.settings as settings_module

    tree = ast.parse(Path(settings_module.__file__).read_text())
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    } | {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert "aethyr_immudb_recorder.errors" in imported
    assert not any(name.startswith("aethyr_immudb_recorder.factory") for name in imported)
