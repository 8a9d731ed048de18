"""The telnet protocol, as much of it as a MUD needs (RFC 854/855, minimally).

:class:`TelnetDecoder` turns the bytes a client sends into text lines and the
negotiation answers to send back:

- ``IAC IAC`` is a data byte 0xFF; other two-byte commands (``IAC NOP``, ``IAC AYT``...)
  are dropped; a subnegotiation ``IAC SB ... IAC SE`` is skipped whole.
- Option negotiation is refused: ``WILL x`` is answered ``DONT x`` and ``DO x`` with
  ``WONT x``, except for the options the server itself offered (``ECHO`` while a
  password is typed, :func:`will_echo`), which a client may accept. ``WONT``/``DONT``
  are never answered, so two refusing ends cannot loop.
- A line ends with CR LF, CR NUL or a bare LF (a bare CR followed by anything else
  also ends it). Lines are decoded as UTF-8 with bad bytes replaced (U+FFFD), never
  an error; a line longer than ``max_line`` bytes is cut there.

:func:`encode` is the way out: ``\\n`` becomes CR LF, the text UTF-8, a 0xFF byte is
doubled. Pure functions and one small state machine: no I/O here.
"""

from __future__ import annotations

IAC = 255
DONT = 254
DO = 253
WONT = 252
WILL = 251
SB = 250
SE = 240
ECHO = 1
CR = 13
LF = 10
NUL = 0

#: Longest line kept (bytes); the rest of a longer line is dropped.
MAX_LINE = 4096

_DATA, _IAC, _OPTION, _SB, _SB_IAC = range(5)


def will_echo() -> bytes:
    """Ask the client to stop echoing (the server "echoes": nothing, for a password)."""
    return bytes((IAC, WILL, ECHO))


def wont_echo() -> bytes:
    """Give the echo back to the client (after a password)."""
    return bytes((IAC, WONT, ECHO))


def encode(text: str) -> bytes:
    """Text for the wire: CR LF line ends, UTF-8, 0xFF escaped as IAC IAC."""
    data = text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
    return data.replace(b"\xff", b"\xff\xff")


class TelnetDecoder:
    """Bytes in, ``(lines, replies)`` out; keeps partial lines and commands between feeds."""

    def __init__(self, *, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        #: Options this end offered (``WILL``) that the client may accept with ``DO``.
        self.offered: set[int] = set()
        self._state = _DATA
        self._verb = 0
        self._line = bytearray()
        self._after_cr = False

    def offer(self, option: int) -> None:
        """Note that the server sent ``WILL option`` (so ``DO option`` is not refused)."""
        self.offered.add(option)

    def withdraw(self, option: int) -> None:
        """Note that the server sent ``WONT option``."""
        self.offered.discard(option)

    def feed(self, data: bytes) -> tuple[list[str], bytes]:
        """The complete lines in ``data`` (with what came before) and the replies due."""
        lines: list[str] = []
        replies = bytearray()
        for byte in data:
            state = self._state
            if state == _DATA:
                if byte == IAC:
                    self._state = _IAC
                else:
                    self._data(byte, lines)
            elif state == _IAC:
                if byte == IAC:
                    self._state = _DATA
                    self._data(byte, lines)
                elif byte in (WILL, WONT, DO, DONT):
                    self._verb = byte
                    self._state = _OPTION
                elif byte == SB:
                    self._state = _SB
                else:  # NOP, AYT, GA, a stray SE...: nothing to do
                    self._state = _DATA
            elif state == _OPTION:
                self._state = _DATA
                replies += self._answer(self._verb, byte)
            elif state == _SB:
                if byte == IAC:
                    self._state = _SB_IAC
            else:  # _SB_IAC
                self._state = _DATA if byte == SE else _SB
        return lines, bytes(replies)

    def _answer(self, verb: int, option: int) -> bytes:
        if verb == WILL:
            return bytes((IAC, DONT, option))
        if verb == DO:
            return b"" if option in self.offered else bytes((IAC, WONT, option))
        if verb == DONT:
            self.offered.discard(option)
        return b""

    def _data(self, byte: int, lines: list[str]) -> None:
        if self._after_cr:
            self._after_cr = False
            if byte in (LF, NUL):
                return  # the second half of CR LF / CR NUL
        if byte in (CR, LF):
            lines.append(self._line.decode("utf-8", errors="replace"))
            self._line.clear()
            self._after_cr = byte == CR
            return
        if len(self._line) < self.max_line:
            self._line.append(byte)
