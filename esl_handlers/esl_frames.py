"""FreeSWITCH event-socket framing and ``text/event-plain`` bodies.

Framing: LF-terminated ``Name: value`` header lines, an empty line ends the block, and a
``Content-Length: N`` header announces an N-byte body. ``event plain`` bodies are themselves
``Name: url-encoded-value`` lines ending with an empty line; some names repeat
(``Hangup-Cause`` appears twice in CHANNEL_HANGUP_COMPLETE).

A full parse of a 1.5-5 kB event body costs far more than the handful of headers a normaliser
needs, so :class:`PlainEvent` looks headers up one by one in the raw bytes (and url-decodes only
those), and parses everything only when someone iterates it (raw retention, debugging).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass


class EslProtocolError(ValueError):
    """The byte stream is not ESL framing; the connection cannot be trusted any more."""


@dataclass(frozen=True, slots=True)
class EslFrame:
    headers: dict[str, str]
    body: bytes = b""

    @property
    def content_type(self) -> str | None:
        return self.headers.get("Content-Type")


_HEX_DIGITS = "0123456789abcdefABCDEF"
_HEX_BYTES = {(a + b).encode(): bytes([int(a + b, 16)]) for a in _HEX_DIGITS for b in _HEX_DIGITS}


def url_decode(raw: bytes) -> str:
    """Percent-decoding of a header value (``+`` stays ``+``, as FreeSWITCH encodes spaces as %20)."""
    if b"%" not in raw:
        return raw.decode("utf-8", "replace")
    try:
        # At C speed: with backslashes escaped, every %XX becomes a \xXX escape for the
        # unicode_escape codec, which yields one code point per byte; latin-1 turns those back
        # into the bytes, which are UTF-8. A % without two hex digits makes the codec fail.
        escaped = raw.replace(b"\\", b"\\\\").replace(b"%", b"\\x")
        return escaped.decode("unicode_escape").encode("latin-1").decode("utf-8", "replace")
    except UnicodeDecodeError:
        return _url_decode_lenient(raw)


def _url_decode_lenient(raw: bytes) -> str:
    """Byte by byte: a % not followed by two hex digits stays as it is."""
    parts = raw.split(b"%")
    out = [parts[0]]
    for part in parts[1:]:
        byte = _HEX_BYTES.get(part[:2])
        out.append(b"%" + part if byte is None else byte + part[2:])
    return b"".join(out).decode("utf-8", "replace")


_decode = url_decode


def parse_header_block(block: bytes) -> dict[str, str]:
    """Outer frame headers (first occurrence of a name wins)."""
    headers: dict[str, str] = {}
    for line in block.split(b"\n"):
        if not line:
            continue
        name, sep, value = line.partition(b": ")
        if not sep:
            name, sep, value = line.partition(b":")
            if not sep:
                raise EslProtocolError(f"header line without a colon: {line[:80]!r}")
        key = name.decode("utf-8", "replace")
        if key not in headers:
            headers[key] = _decode(value.strip())
    return headers


class EslFrameParser:
    """Incremental frame parser: ``feed(bytes)`` returns the frames completed so far.

    Any split of the input gives the same frames. ``pending`` tells how many bytes of an
    incomplete frame are buffered (useful to spot a connection cut mid-frame).
    """

    _COMPACT_AT = 1 << 16

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._headers: dict[str, str] | None = None
        self._body_len = 0

    @property
    def pending(self) -> int:
        return len(self._buf) - self._pos

    def feed(self, data: bytes) -> list[EslFrame]:
        buf = self._buf
        buf += data
        frames: list[EslFrame] = []
        pos = self._pos
        while True:
            if self._headers is None:
                while pos < len(buf) and buf[pos] == 0x0A:  # stray blank lines between frames
                    pos += 1
                end = buf.find(b"\n\n", pos)
                if end < 0:
                    break
                headers = parse_header_block(bytes(buf[pos:end]))
                pos = end + 2
                length = headers.get("Content-Length")
                if length is None:
                    frames.append(EslFrame(headers))
                    continue
                try:
                    self._body_len = int(length)
                except ValueError:
                    raise EslProtocolError(f"bad Content-Length: {length!r}") from None
                if self._body_len < 0:
                    raise EslProtocolError(f"bad Content-Length: {length!r}")
                self._headers = headers
            if len(buf) - pos < self._body_len:
                break
            body = bytes(memoryview(buf)[pos : pos + self._body_len])
            pos += self._body_len
            frames.append(EslFrame(self._headers, body))
            self._headers = None
        if pos >= self._COMPACT_AT or pos == len(buf):
            del buf[:pos]
            pos = 0
        self._pos = pos
        return frames


def split_frames(data: bytes) -> list[EslFrame]:
    """All frames of a complete capture; raises if it ends mid-frame."""
    parser = EslFrameParser()
    frames = parser.feed(data)
    if parser.pending:
        raise EslProtocolError(f"{parser.pending} bytes of an incomplete frame at the end")
    return frames


def parse_plain_body(body: bytes) -> list[tuple[str, str]]:
    """Every ``Name: value`` pair of an event-plain body, in order, repeats kept, values decoded."""
    pairs: list[tuple[str, str]] = []
    for line in body.split(b"\n"):
        if not line:
            continue
        name, sep, value = line.partition(b": ")
        if not sep:
            continue
        pairs.append((name.decode("utf-8", "replace"), _decode(value)))
    return pairs


#: header name -> (b"\nName: ", b"Name: "): what marks it inside the body and at its start
_NEEDLES: dict[str, tuple[bytes, bytes]] = {}


def _needles(name: str) -> tuple[bytes, bytes]:
    first = name.encode() + b": "
    needles = _NEEDLES[name] = (b"\n" + first, first)
    return needles


class PlainEvent(Mapping[str, str]):
    """A ``text/event-plain`` body as a lazy, read-only header mapping.

    ``get``/``[]`` find one header in the raw bytes and decode only its value; iteration parses
    the whole body once. A repeated header maps to its first value; ``getall`` returns all.
    """

    __slots__ = ("body", "_parsed")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self._parsed: dict[str, str] | None = None

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        if self._parsed is not None:  # parsed once already (``dict(event)`` for the raw copy)
            return self._parsed.get(name, default)
        needle, first = _NEEDLES.get(name) or _needles(name)
        body = self.body
        if body.startswith(first):
            start = len(first)
        else:
            at = body.find(needle)
            if at < 0:
                return default
            start = at + len(needle)
        end = body.find(b"\n", start)
        raw = body[start:end] if end >= 0 else body[start:]
        return url_decode(raw) if b"%" in raw else raw.decode("utf-8", "replace")

    def __getitem__(self, name: str) -> str:
        if self._parsed is not None:
            return self._parsed[name]
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def _all(self) -> dict[str, str]:
        if self._parsed is None:
            parsed: dict[str, str] = {}
            body = self.body
            if b"%0B" in body or b"%0b" in body or b"\x0b" in body:
                for line in body.split(b"\n"):  # value by value
                    name, sep, value = line.partition(b": ")
                    if sep:
                        key = name.decode("utf-8", "replace")
                        if key not in parsed:
                            parsed[key] = url_decode(value)
            else:
                # The whole body at once: names are never encoded, and an encoded line break
                # (SDP bodies hold CRLFs) is decoded as a vertical tab, which the body has none
                # of, and turned back afterwards. A decoded ": " in a value comes after the name's.
                text = url_decode(body.replace(b"%0A", b"%0B").replace(b"%0a", b"%0B"))
                for line in text.split("\n"):
                    name, sep, value = line.partition(": ")
                    if sep and name not in parsed:
                        parsed[name] = value.replace("\x0b", "\n") if "\x0b" in value else value
            self._parsed = parsed
        return self._parsed

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def to_dict(self) -> dict[str, str]:
        """Every header (first value of a repeated one), as a plain dict: what the raw copy of an
        event keeps."""
        return dict(self._all())

    def getall(self, name: str) -> list[str]:
        return [value for key, value in parse_plain_body(self.body) if key == name]

    def __repr__(self) -> str:
        return f"PlainEvent({self.get('Event-Name')!r}, {len(self.body)} bytes)"
