"""Redis's glob matcher (`stringmatchlen`, 7.0) for KEYS and SCAN MATCH.

Ported behaviour, not just "a glob": `*`, `?`, `[...]` with `^` negation, `a-z` ranges (ends
swapped when reversed, compared as signed chars as C does), backslash escapes, an unclosed
`[` that runs to the end of the pattern, and the early exit that keeps `*a*a*a...` patterns
from going exponential. Reading past the end yields 0, like the NUL after an sds string.
"""

from __future__ import annotations


def _signed(byte: int) -> int:
    return byte - 256 if byte >= 128 else byte


def glob_match(pattern: bytes, string: bytes) -> bool:
    """True when `string` matches the Redis glob `pattern` (case-sensitive)."""
    if pattern == b"*":
        return True
    return _match(pattern, 0, string, 0, [False])


def _match(pattern: bytes, p: int, string: bytes, s: int, skip_longer: list[bool]) -> bool:
    pattern_end = len(pattern)
    string_end = len(string)

    def at(index: int) -> int:
        return pattern[index] if index < pattern_end else 0

    while p < pattern_end and s < string_end:
        current = pattern[p]
        if current == 0x2A:  # '*'
            while p < pattern_end and at(p + 1) == 0x2A:
                p += 1
            if pattern_end - p == 1:
                return True
            while s < string_end:
                if _match(pattern, p + 1, string, s, skip_longer):
                    return True
                if skip_longer[0]:
                    return False
                s += 1
            skip_longer[0] = True
            return False
        if current == 0x3F:  # '?'
            s += 1
        elif current == 0x5B:  # '['
            p += 1
            negate = at(p) == 0x5E
            if negate:
                p += 1
            matched = False
            character = string[s]
            while True:
                if at(p) == 0x5C and pattern_end - p >= 2:
                    p += 1
                    if pattern[p] == character:
                        matched = True
                elif at(p) == 0x5D:
                    break
                elif p >= pattern_end:
                    p -= 1
                    break
                elif pattern_end - p >= 3 and pattern[p + 1] == 0x2D:
                    start, end = _signed(pattern[p]), _signed(pattern[p + 2])
                    if start > end:
                        start, end = end, start
                    p += 2
                    if start <= _signed(character) <= end:
                        matched = True
                elif pattern[p] == character:
                    matched = True
                p += 1
            if negate:
                matched = not matched
            if not matched:
                return False
            s += 1
        else:
            if current == 0x5C and pattern_end - p >= 2:  # '\\' escapes the next byte
                p += 1
            if pattern[p] != string[s]:
                return False
            s += 1
        p += 1
        if s == string_end:
            while at(p) == 0x2A:
                p += 1
            break
    return p >= pattern_end and s == string_end
