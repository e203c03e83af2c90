"""Every spelling of a secret is masked, and nothing else is touched."""

from __future__ import annotations

import pytest

from dripbridge.redact import MASK, mask_secret_fields, redact, secret_values
from tests.secret_forms import spellings

KEY = 'sk_live/A+b=c&d e"f\\g%h'
NON_ASCII = "clé-secrète/ü"


CASES = [
    (secret, name, form) for secret in (KEY, NON_ASCII) for name, form in spellings(secret).items()
]


@pytest.mark.parametrize(
    ("secret", "name", "form"), CASES, ids=[f"{s[:3]}-{n}" for s, n, _ in CASES]
)
def test_every_spelling_is_masked(secret: str, name: str, form: str) -> None:
    text = f"DRIP said: bad token <{form}> at https://x.example/?k={form}&z=1"

    masked = redact(text, [secret, "other-secret-1"])

    assert masked == f"DRIP said: bad token <{MASK}> at https://x.example/?k={MASK}&z=1"


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("nothing to hide", ["abcdefgh"], "nothing to hide"),
        ("no secrets known", [], "no secrets known"),
        ("empty secrets are ignored", ["", ""], "empty secrets are ignored"),
        ("ABCDEFGH is another word", ["abcdefgh"], "ABCDEFGH is another word"),
        ("twice: abcdefgh abcdefgh", ["abcdefgh"], f"twice: {MASK} {MASK}"),
        ("nested: abcdefgh-longer", ["abcdefgh", "abcdefgh-longer"], f"nested: {MASK}"),
        ("two: one-secret, two-secret", ["one-secret", "two-secret"], f"two: {MASK}, {MASK}"),
    ],
)
def test_redact(text: str, secrets: list[str], expected: str) -> None:
    assert redact(text, secrets) == expected


HOOKS = [
    {"id": "wh_1", "secret": "s3cret-one", "events": ["member.joined"], "active": True},
    {"id": "wh_2", "signingSecret": "s3cret-two", "config": {"secret": "s3cret-three"}},
    {"id": "wh_3", "secret": "", "hasSecret": True, "secrets": ["s3cret-four"]},
]


def test_secret_values_finds_every_secret_field() -> None:
    assert secret_values(HOOKS) == {"s3cret-one", "s3cret-two", "s3cret-three", "s3cret-four", ""}


def test_mask_secret_fields() -> None:
    assert mask_secret_fields(HOOKS) == [
        {"id": "wh_1", "secret": MASK, "events": ["member.joined"], "active": True},
        {"id": "wh_2", "signingSecret": MASK, "config": {"secret": MASK}},
        {"id": "wh_3", "secret": "", "hasSecret": True, "secrets": MASK},
    ]


@pytest.mark.parametrize(
    ("text", "secret", "expected"),
    [
        (
            '{"b": "[\\"k=a\\\\\\\\b\\\\\\"c\\"]"}',
            'a\\b"c',
            '{"b": "[\\"k=***\\"]"}',
        ),  # JSON in JSON
        ("n=%2Fcb%3Fk%3Da%252Fb%2520c&z", "a/b c", "n=%2Fcb%3Fk%3D***&z"),  # URL in a URL
        ("n=%2Fcb%3Fk%3Da%252Fb%252Bc&z", "a/b c", "n=%2Fcb%3Fk%3D***&z"),  # quote_plus, quote
        ("x a\\u00E9\\/b y", "aé/b", "x *** y"),
    ],
)
def test_escapes_of_escapes_are_masked(text: str, secret: str, expected: str) -> None:
    assert redact(text, [secret]) == expected
