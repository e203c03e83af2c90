"""Depth and layout read from a body's bytes, strings left out, without decoding."""

from __future__ import annotations

import pytest

from bridge.jsonscan import Layout, Nesting, nesting


def _deep(levels: int, open_: bytes = b"[", close: bytes = b"]") -> bytes:
    return open_ * levels + close * levels


@pytest.mark.parametrize(
    ("body", "limit", "expected"),
    [
        (b'{"type":"a"}', 1, Nesting.WITHIN),
        (b"1", 1, Nesting.WITHIN),
        (_deep(3), 3, Nesting.WITHIN),
        (_deep(4), 3, Nesting.TOO_DEEP),
        (b'{"a":[{"b":[1]}]}', 4, Nesting.WITHIN),
        (b'{"a":[{"b":[1]}]}', 3, Nesting.TOO_DEEP),
        (b"[[],[],[],[],[]]", 2, Nesting.WITHIN),
        # Brackets inside strings, escaped quotes and escaped backslashes do not count.
        (b'{"a":"[[[[[[[[{{{{"}', 1, Nesting.WITHIN),
        (b'{"a":"\\"[[[[[[","b":"\\\\"}', 1, Nesting.WITHIN),
        (b'{"a":"\\\\","b":[[[[1]]]]}', 4, Nesting.TOO_DEEP),
        (b"[" * 10, 3, Nesting.UNPAIRED),
        (b"[[[[]]]]]", 3, Nesting.UNPAIRED),
        (_deep(200, b"{", b"}"), 199, Nesting.TOO_DEEP),
        (_deep(200, b"{", b"}"), 200, Nesting.WITHIN),
        (_deep(100_000), 64, Nesting.TOO_DEEP),
        # An unterminated string hides the rest of the body.
        (b'["' + b"[" * 10, 3, Nesting.UNPAIRED),
    ],
)
def test_nesting(body: bytes, limit: int, expected: Nesting) -> None:
    assert nesting(body, limit) is expected


@pytest.mark.parametrize(
    ("body", "compact", "fractions"),
    [
        (b'{"type":"a b","n":[1,true,false,null,-5]}', True, False),
        (b'{"type": "a"}', False, False),
        (b'{"type":"a"}\n', False, False),
        (b'{"type":\t"a"}', False, False),
        (b'{"s":"caf\\u00e9"}', False, False),
        (b'{"s":"a\\/b"}', False, False),
        (b'{"n":1.5}', False, True),
        (b'{"n":1e5}', False, True),
        (b'{"n":1E5}', False, True),
        (b'{"n":-0}', False, True),
        (b'{"n":10,"s":"1.5e3 -0"}', True, False),
        (b'{"s":"true false"}', True, False),
    ],
)
def test_layout(body: bytes, compact: bool, fractions: bool) -> None:
    layout = Layout(body)
    assert (layout.compact, layout.has_fractions) == (compact, fractions)
