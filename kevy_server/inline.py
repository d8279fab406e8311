"""Inline commands: one text line split into arguments the way Redis's `sdssplitargs` does (pure).

Arguments are separated by whitespace. `"double quotes"` take the escapes `\\xHH`, `\\n`,
`\\r`, `\\t`, `\\b`, `\\a` and `\\<any>` (that character); `'single quotes'` take only `\\'`.
A closing quote must be followed by whitespace or the end of the line, and an unclosed quote
is an error (`InlineError`), as in Redis. A trailing CR is dropped (lines may end in CRLF).
"""

from __future__ import annotations

_WHITESPACE = b" \t\n\r\v\f"
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("a"): b"\a"}
_DOUBLE_QUOTE = ord('"')
_SINGLE_QUOTE = ord("'")
_BACKSLASH = ord("\\")


class InlineError(Exception):
    """The line cannot be split (an unbalanced quote)."""


def split_inline(line: bytes) -> list[bytes]:
    """The arguments of one inline command line (an empty list for a blank line)."""
    if line.endswith(b"\r"):
        line = line[:-1]
    if b'"' not in line and b"'" not in line:
        return line.split()  # the common case: no quoting at all
    arguments: list[bytes] = []
    position = 0
    end = len(line)
    while True:
        while position < end and line[position] in _WHITESPACE:
            position += 1
        if position >= end:
            return arguments
        argument, position = _one_argument(line, position)
        arguments.append(argument)


def _one_argument(line: bytes, position: int) -> tuple[bytes, int]:
    """The argument starting at `position` and the offset just after it."""
    parts: list[bytes] = []
    end = len(line)
    while position < end and line[position] not in _WHITESPACE:
        byte = line[position]
        if byte == _DOUBLE_QUOTE:
            text, position = _double_quoted(line, position + 1)
            parts.append(text)
        elif byte == _SINGLE_QUOTE:
            text, position = _single_quoted(line, position + 1)
            parts.append(text)
        else:
            parts.append(line[position : position + 1])
            position += 1
            continue
        if position < end and line[position] not in _WHITESPACE:
            raise InlineError("unbalanced quotes in request")
    return b"".join(parts), position


def _double_quoted(line: bytes, position: int) -> tuple[bytes, int]:
    parts: list[bytes] = []
    end = len(line)
    while position < end:
        byte = line[position]
        if byte == _DOUBLE_QUOTE:
            return b"".join(parts), position + 1
        if byte == _BACKSLASH and position + 1 < end:
            following = line[position + 1]
            hex_digits = line[position + 2 : position + 4]
            if following == ord("x") and len(hex_digits) == 2 and all(d in _HEX_DIGITS for d in hex_digits):
                parts.append(bytes([int(hex_digits, 16)]))
                position += 4
                continue
            parts.append(_ESCAPES.get(following, bytes([following])))
            position += 2
            continue
        parts.append(line[position : position + 1])
        position += 1
    raise InlineError("unbalanced quotes in request")


def _single_quoted(line: bytes, position: int) -> tuple[bytes, int]:
    parts: list[bytes] = []
    end = len(line)
    while position < end:
        byte = line[position]
        if byte == _SINGLE_QUOTE:
            return b"".join(parts), position + 1
        if byte == _BACKSLASH and line[position + 1 : position + 2] == b"'":
            parts.append(b"'")
            position += 2
            continue
        parts.append(line[position : position + 1])
        position += 1
    raise InlineError("unbalanced quotes in request")
