"""Sessions through plain sockets: login, new players, MD5 upgrade, takeover, idle
timeout, text reaching other players, telnet details on the wire."""

from __future__ import annotations

import hashlib

import pytest

from aethyr_domain import commands, passwords
from aethyr_domain.config import ServerConfig
from aethyr_domain.game.server import (
    IDLE_MESSAGE,
    SHUTDOWN_MESSAGE,
    TAKEN_OVER_MESSAGE,
    TOO_MANY_FAILURES,
)
from aethyr_domain.game.session import boot
from aethyr_domain.game.storage import load_aggregates
from aethyr_domain.game.telnet import DO, DONT, ECHO, IAC, WILL, WONT
from tests.server.support import RunningServer, wait_for


@pytest.fixture
def config(tmp_path):
    return ServerConfig(storage_path=str(tmp_path / "world.sqlite"), idle_timeout=30.0)


@pytest.fixture
def running(config):
    manager = boot(config)
    server = RunningServer(manager, config)
    with server:
        yield server
    manager.close()


def test_new_player_then_login_and_wrong_password(running):
    ann = running.client()
    ann.login_new("Ann", "correct-horse")
    assert "[The Starting Room]" in ann.text
    assert "You are holding nothing." in ann.do("inventory")
    ann.send("quit")
    ann.expect("Goodbye!")
    assert ann.closed_by_server()
    again = running.client()
    again.expect("By what name are you known? ")
    again.send("ann")  # names are case-insensitive
    again.expect("Password: ")
    again.send("wrong-password")
    again.expect("Wrong password.")
    again.send("Ann")
    again.expect("Password: ")
    again.send("correct-horse")
    again.expect("> ")
    assert "look" not in again.text.split("Password: ")[-1]
    assert b"correct-horse" not in again.received  # never echoed


def test_password_prompt_turns_the_client_echo_off(running):
    client = running.client()
    client.expect("By what name are you known? ")
    client.send("Bea")
    client.expect(bytes([IAC, WILL, ECHO]) + b"Choose a password: ")
    client.send(bytes([IAC, DO, ECHO]) + b"pw-one-two")  # accepted: no refusal comes back
    assert client.expect("Type it again: ") == b"\r\nType it again: "  # echo still off
    client.send("pw-one-two")
    assert client.expect("> ").startswith(b"\r\n" + bytes([IAC, WONT, ECHO]))


def test_mismatched_passwords_create_nothing(running):
    client = running.client()
    client.expect("By what name are you known? ")
    client.send("Cyd")
    client.expect("Choose a password: ")
    client.send("first-pw")
    client.expect("Type it again: ")
    client.send("other-pw")
    client.expect("The passwords differ.")
    client.expect("By what name are you known? ")
    assert running.manager.state.find_player_by_name("Cyd") is None


def test_bad_names_are_refused(running):
    client = running.client()
    client.expect("By what name are you known? ")
    client.send("1 bad name")
    client.expect("a player name must be")
    client.expect("By what name are you known? ")


def test_legacy_md5_hash_is_upgraded_on_first_login(running, config):
    manager = running.manager
    digest = hashlib.md5(b"old-secret").hexdigest()

    def make_legacy() -> str:
        manager._change(
            commands.ImportLegacyPlayer, "system", id="old-1", name="Olga", password_md5=digest
        )
        return manager.password_hash("old-1")

    stored = running.server._game.submit(make_legacy).result()
    assert stored == f"md5${digest}"
    client = running.client()
    client.login("Olga", "old-secret")
    wait_for(lambda: manager.password_hash("old-1").startswith("scrypt$"))
    upgraded = manager.password_hash("old-1")
    assert passwords.verify_password("old-secret", upgraded)
    client.send("quit")
    client.expect("Goodbye!")
    # the upgrade was decided and saved like any change: the storage holds it
    assert load_aggregates(config.storage_path)["old-1"].password_hash == upgraded
    again = running.client()
    again.login("Olga", "old-secret")  # still logs in with the new hash


def test_second_login_takes_the_session_over(running):
    first = running.client()
    first.login_new("Dan", "dans-password")
    second = running.client()
    second.login("Dan", "dans-password")
    first.expect(TAKEN_OVER_MESSAGE)
    assert first.closed_by_server()
    assert "You are holding nothing." in second.do("inventory")
    pid = running.manager.state.find_player_by_name("Dan").id
    assert pid in running.manager.online  # the old session's end did not drop the player
    assert running.server.sessions[pid] is not None


def test_idle_sessions_time_out(tmp_path):
    config = ServerConfig(storage_path="", idle_timeout=0.5)
    manager = boot(config)
    with RunningServer(manager, config) as running:
        client = running.client()
        client.login_new("Eve", "eves-password")
        client.expect(IDLE_MESSAGE, timeout=5)
        assert client.closed_by_server()
        eve = manager.state.find_player_by_name("Eve")
        assert eve is not None
        pid = eve.id
        wait_for(lambda: pid not in manager.online)
    manager.close()


def test_text_reaches_the_other_players_in_the_room(running):
    ann = running.client()
    ann.login_new("Ann", "anns-password")
    bob = running.client()
    bob.login_new("Bob", "bobs-password")
    assert "Also here: Ann." in bob.do("look")
    ann.send("quit")
    bob.expect("Ann leaves the game.")
    # Manager.send reaches a session from the game thread (the interface for say/tell)
    pid = running.manager.state.find_player_by_name("Bob").id
    running.server._game.submit(running.manager.send, pid, "A voice: hello").result()
    bob.expect("A voice: hello")


def test_every_line_is_answered_telnet_bytes_and_utf8(running):
    client = running.client()
    client.login_new("Fay", "fays-password")
    client.send(bytes([IAC, DO, 24, IAC, WILL, 31]) + "lóok".encode(), end=b"\r\x00")
    chunk = client.expect("> ")
    assert bytes([IAC, WONT, 24]) in chunk and bytes([IAC, DONT, 31]) in chunk
    assert "Unknown command: lóok" in chunk.decode("utf-8", errors="replace")
    client.send(b"\xc3\x28 junk")
    assert "Unknown command: \ufffd(" in client.expect("> ").decode()
    client.send(b"")
    client.expect("> ")  # an empty line gets a prompt
    client.send(b"look\nlook", end=b"\n")
    client.expect("Exits:")
    client.expect("Exits:")


def test_shutdown_tells_the_players(config):
    manager = boot(config)
    server = RunningServer(manager, config)
    with server:
        client = server.client()
        client.login_new("Gus", "gus-password")
        server.stop()
        client.expect(SHUTDOWN_MESSAGE)
        assert client.closed_by_server()
    manager.close()


def test_three_wrong_passwords_close_the_connection(running):
    ann = running.client()
    ann.login_new("Hal", "hals-password")
    ann.send("quit")
    guesser = running.client()
    for _ in range(3):
        guesser.expect("By what name are you known? ")
        guesser.send("Hal")
        guesser.expect("Password: ")
        guesser.send("guess")
        guesser.expect("Wrong password.")
    guesser.expect(TOO_MANY_FAILURES)
    assert guesser.closed_by_server()
