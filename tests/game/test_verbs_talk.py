"""The read-only verbs: their text reaches the right players and nothing is recorded."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aethyr_domain.game.actions import Actions, by_recipient


@pytest.fixture
def room(game):
    """Alice (admin), Bob and Carol in the start room; Dave in the next room."""
    game.carol = game.manager.add_player("Carol", "secret-3").id
    game.do(game.admin, "acroom north The Hall")
    game.dave = game.manager.add_player("Dave", "secret-4").id
    game.do(game.dave, "north")
    game.mark = len(game.sink.emitted)
    return game


def test_say_reaches_everyone_in_the_room_only(room):
    out = by_recipient(room.actions.perform(room.player, "say hello there"))
    assert out == {
        room.player: ["You say, 'hello there'"],
        room.admin: ["Bob says, 'hello there'"],
        room.carol: ["Bob says, 'hello there'"],
    }
    assert room.do(room.player, "say") == "Say what?"
    assert room.since(room.mark) == []


def test_players_who_quit_hear_nothing(room):
    room.do(room.carol, "quit")
    out = by_recipient(room.actions.perform(room.player, "say hi"))
    assert room.carol not in out and room.admin in out


def test_sayto_names_the_addressee(room):
    out = by_recipient(room.actions.perform(room.player, "sayto carol nice hat"))
    assert out[room.player] == ["You say to Carol, 'nice hat'"]
    assert out[room.carol] == ["Bob says to you, 'nice hat'"]
    assert out[room.admin] == ["Bob says to Carol, 'nice hat'"]
    assert room.dave not in out
    assert room.do(room.player, "sayto dave hi") == "Dave is not here."
    assert room.do(room.player, "sayto nobody hi") == "There is no player named nobody."
    assert room.do(room.player, "sayto carol") == "Usage: sayto <player> <text>"
    assert room.do(room.player, "sayto bob hi") == "Talking to yourself again?"
    assert room.since(room.mark) == []


def test_whisper_only_the_addressee_hears_the_words(room):
    out = by_recipient(room.actions.perform(room.player, "whisper carol the key is here"))
    assert out[room.carol] == ["Bob whispers to you, 'the key is here'"]
    assert out[room.admin] == ["Bob whispers something to Carol."]
    assert room.dave not in out
    assert room.do(room.player, "whisper dave psst") == "Dave is not here."
    assert room.since(room.mark) == []


def test_tell_reaches_one_player_anywhere_and_reply_answers(room):
    out = by_recipient(room.actions.perform(room.player, "tell dave meet me"))
    assert out == {
        room.player: ["You tell Dave, 'meet me'"],
        room.dave: ["Bob tells you, 'meet me'"],
    }
    out = by_recipient(room.actions.perform(room.dave, "reply on my way"))
    assert out == {
        room.dave: ["You tell Bob, 'on my way'"],
        room.player: ["Dave tells you, 'on my way'"],
    }
    assert room.do(room.carol, "reply hi") == "There is no one to reply to."
    assert room.do(room.carol, "reply") == "Reply what?"
    room.do(room.dave, "quit")
    assert room.do(room.player, "tell dave hi") == "Dave is not playing."
    assert room.do(room.player, "reply hi") == "Dave is not playing."
    assert room.since(room.mark) == []


def test_emote_shows_the_line_to_the_room(room):
    out = by_recipient(room.actions.perform(room.player, "emote grins widely"))
    assert out == {
        room.player: ["Bob grins widely"],
        room.admin: ["Bob grins widely"],
        room.carol: ["Bob grins widely"],
    }
    assert room.do(room.player, "emote") == "Emote what?"
    assert room.since(room.mark) == []


def test_who_lists_the_online_players(room):
    assert room.do(room.player, "who") == "4 players online: Alice, Bob, Carol, Dave."
    room.do(room.carol, "quit")
    assert room.do(room.player, "who") == "3 players online: Alice, Bob, Dave."
    assert room.since(room.mark) == []


def test_time_and_date_read_the_clock(room):
    moment = datetime(2026, 3, 14, 9, 5, tzinfo=UTC)
    actions = Actions(room.manager, clock=lambda: moment)
    assert actions.perform(room.player, "time") == [(room.player, "It is 09:05 UTC.")]
    assert actions.perform(room.player, "date") == [(room.player, "It is Saturday, 14 March 2026.")]
    assert room.since(room.mark) == []


def test_by_recipient_keeps_the_order_of_lines():
    assert by_recipient([("a", "one\ntwo"), ("b", "x"), ("a", "three")]) == {
        "a": ["one", "two", "three"],
        "b": ["x"],
    }
