"""The telnet decoder: IAC sequences, line ends, UTF-8 (POPO, no sockets)."""

from __future__ import annotations

from aethyr_domain.game import telnet
from aethyr_domain.game.telnet import DO, DONT, ECHO, IAC, SB, SE, WILL, WONT, TelnetDecoder


def test_line_ends_crlf_crnul_and_lf():
    decoder = TelnetDecoder()
    lines, replies = decoder.feed(b"one\r\ntwo\r\x00three\nfour")
    assert lines == ["one", "two", "three"]
    assert replies == b""
    assert decoder.feed(b"\r")[0] == ["four"]
    assert decoder.feed(b"\nfive\r\n")[0] == ["five"]  # the LF of CR LF split across reads


def test_negotiations_are_refused_and_stripped():
    decoder = TelnetDecoder()
    data = bytes([IAC, DO, 24, IAC, WILL, 31]) + b"lo" + bytes([IAC, WONT, 3, IAC, DONT, 5])
    lines, replies = decoder.feed(data + b"ok\r\n")
    assert lines == ["look"]
    assert replies == bytes([IAC, WONT, 24, IAC, DONT, 31])


def test_subnegotiation_is_skipped_and_iac_iac_is_a_data_byte():
    decoder = TelnetDecoder()
    lines, _ = decoder.feed(bytes([IAC, SB, 24, 0]) + b"xterm" + bytes([IAC, SE]) + b"a")
    lines2, _ = decoder.feed(bytes([IAC, IAC]) + b"\r\n")
    assert lines == [] and lines2 == ["a\ufffd"]  # 0xFF alone is not UTF-8: replaced


def test_offered_echo_may_be_accepted():
    decoder = TelnetDecoder()
    decoder.offer(ECHO)
    assert decoder.feed(bytes([IAC, DO, ECHO]))[1] == b""
    decoder.withdraw(ECHO)
    assert decoder.feed(bytes([IAC, DO, ECHO]))[1] == bytes([IAC, WONT, ECHO])


def test_utf8_in_and_bad_bytes_replaced():
    decoder = TelnetDecoder()
    text = "café ☕"
    encoded = text.encode()
    lines, _ = decoder.feed(encoded[:4])  # split inside the é
    lines2, _ = decoder.feed(encoded[4:] + b"\r\n\xc3\x28\r\n")
    assert lines == [] and lines2 == [text, "\ufffd("]


def test_long_lines_are_cut():
    decoder = TelnetDecoder(max_line=8)
    assert decoder.feed(b"x" * 100 + b"\r\n")[0] == ["x" * 8]


def test_encode_uses_crlf_and_utf8():
    assert telnet.encode("a\nb é\n") == b"a\r\nb \xc3\xa9\r\n"
    assert telnet.encode("x\r\ny") == b"x\r\ny"
