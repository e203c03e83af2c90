"""What a JSON body's bytes say about it before it is decoded: nesting depth and layout.

Nothing here decodes or recurses. Strings are blanked out first (so brackets, spaces and digits
inside them do not count), then the bytes left are counted and matched. The receiver uses it
to refuse bodies nested too deep before any decoder or recursive routine sees them, and to
skip re-serializing a body that is already in compact form.

Cost is linear in the body: byte-level ``replace``/``split``/``translate`` and one regular
expression without backtracking. A body that is not JSON gets some answer here; the decoder
refuses it afterwards all the same.
"""

from __future__ import annotations

import functools
import re
from enum import Enum

_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# Objects and arrays nest alike; one kind of bracket keeps the depth pattern small.
_ONE_KIND = bytes.maketrans(b"{}", b"[]")
_WHITESPACE = (b" ", b"\n", b"\r", b"\t")


class Nesting(Enum):
    """How a body's brackets nest, against a depth limit."""

    WITHIN = "within"
    TOO_DEEP = "too deep"
    UNPAIRED = "unpaired"


@functools.cache
def _nested_at_most(limit: int) -> re.Pattern[bytes]:
    # Balanced brackets at most ``limit`` deep: (?:\[(?:\[ ... \])*+\])*+, ``limit`` levels.
    # Possessive repeats never backtrack, so a match is one pass over the brackets.
    pattern = b""
    for _ in range(limit):
        pattern = rb"(?:\[" + pattern + rb"\])*+"
    return re.compile(pattern)


def nesting(body: bytes, limit: int) -> Nesting:
    """Whether ``body`` nests arrays and objects at most ``limit`` levels deep.

    A body with at most ``limit`` opening brackets anywhere cannot be deeper, so most bodies
    cost two byte counts; only the others are scanned.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return Nesting.WITHIN
    return Layout(body).nesting(limit)


class Layout:
    """The structure of one body, strings left out."""

    def __init__(self, body: bytes) -> None:
        self.escaped = b"\\" in body
        if self.escaped:
            # Escaped backslashes first, so that in \\" the quote still ends the string.
            body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
        self._skeleton = b'""'.join(body.split(b'"')[::2])

    def nesting(self, limit: int) -> Nesting:
        """Whether the brackets pair up, at most ``limit`` levels deep."""
        brackets = self._skeleton.translate(_ONE_KIND, _NOT_BRACKETS)
        if _nested_at_most(limit).fullmatch(brackets) is not None:
            return Nesting.WITHIN
        if brackets.count(b"[") != brackets.count(b"]"):
            return Nesting.UNPAIRED
        return Nesting.TOO_DEEP

    @property
    def has_fractions(self) -> bool:
        """True when a number is written with a fraction or an exponent (or as -0).

        Outside strings, ``.``, ``E`` and ``-0`` occur only in numbers, and ``e`` in numbers,
        ``true`` and ``false``; byte counts answer without a per-byte loop in Python.
        """
        skeleton = self._skeleton
        return (
            b"." in skeleton
            or b"E" in skeleton
            or b"-0" in skeleton
            or skeleton.count(b"e") > skeleton.count(b"true") + skeleton.count(b"false")
        )

    @property
    def compact(self) -> bool:
        """True when the body is laid out as ``JSON.stringify`` would write it again.

        No whitespace between tokens, no escape in a string (JSON.stringify writes ``é`` and
        ``/`` as themselves) and no number it would spell otherwise. Such a body equals its
        compact form, except that a key repeated in one object is written once; a signer of
        ``JSON.stringify`` output never repeats a key.
        """
        if self.escaped or any(space in self._skeleton for space in _WHITESPACE):
            return False
        return not self.has_fractions
