"""Keeping secrets (the API key, webhook secrets) out of everything the operator commands print.

DRIP may echo a secret back in an error body, in a URL or in a JSON field, and not always as it
was sent: URL-encoded (``quote`` or ``quote_plus``, upper- or lower-case escapes) or
JSON-escaped (``\\"``, ``\\u00e9``, ``\\/``). :func:`redact` matches each character of a
secret in any of those spellings, so a mix of them (a JSON string holding a URL-encoded key) is
caught too. Everything printed or logged from DRIP's answers goes through it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

MASK = "***"
"""What a secret is replaced with."""


def _hex(text: str) -> str:
    # Escapes are case-insensitive (%2f and %2F); the secret itself is not.
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in text)


def _char_forms(char: str) -> list[str]:
    """The regex alternatives for one character of a secret.

    An escape may itself be escaped again (``%252F``, ``\\\\u00e9``) when a URL or a JSON
    text is nested in another, so the ``%`` of an escape may be followed by ``25`` repeatedly
    and a JSON escape may start with any number of backslashes.
    """
    utf8 = char.encode("utf-8")
    forms = {re.escape(char), "".join("%(?:25)*" + _hex(f"{b:02X}") for b in utf8)}
    if char == " ":
        forms |= {r"\+", "%(?:25)*2[Bb]"}  # quote_plus, then perhaps quoted again
    if char in '\\"/':
        forms.add(r"\\*" + re.escape(char))  # \" and \/ (as some encoders write it)
    escaped = json.dumps(char)[1:-1]  # \n, \u00e9, or the character itself
    if escaped.startswith("\\") and char not in '\\"':
        forms.add(r"\\+" + re.escape(escaped[1:]))
    if ord(char) < 0x10000:
        forms.add(r"\\+u" + _hex(f"{ord(char):04X}"))
    return sorted(forms, key=len, reverse=True)


def _pattern_of(secret: str) -> str:
    return "".join(f"(?:{'|'.join(_char_forms(c))})" for c in secret)


@lru_cache(maxsize=32)
def _compiled(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    if not secrets:
        return None
    # Longest first, so a secret that contains another is masked whole.
    return re.compile("|".join(_pattern_of(s) for s in secrets))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every form of every one of ``secrets`` replaced by :data:`MASK`."""
    known = tuple(sorted({s for s in secrets if s}, key=lambda s: (-len(s), s)))
    pattern = _compiled(known)
    return text if pattern is None else pattern.sub(MASK, text)


def is_secret_field(name: str) -> bool:
    """Whether a JSON field holds a secret by its name (``secret``, ``signingSecret``, ...)."""
    return "secret" in name.lower()


def secret_values(payload: Any, *, inside: bool = False) -> set[str]:
    """Every string held by a secret field of ``payload`` (however deep), to :func:`redact`."""
    if isinstance(payload, str):
        return {payload} if inside else set()
    found: set[str] = set()
    if isinstance(payload, Mapping):
        for name, value in payload.items():
            found |= secret_values(value, inside=inside or is_secret_field(str(name)))
    elif isinstance(payload, list):
        for item in payload:
            found |= secret_values(item, inside=inside)
    return found


def mask_secret_fields(payload: Any) -> Any:
    """A copy of ``payload`` in which each secret field holding anything but a flag, a number
    or nothing (a string, a list, an object) reads :data:`MASK`."""
    if isinstance(payload, Mapping):
        return {name: _masked(str(name), value) for name, value in payload.items()}
    if isinstance(payload, list):
        return [mask_secret_fields(item) for item in payload]
    return payload


def _masked(name: str, value: Any) -> Any:
    if is_secret_field(name) and isinstance(value, str | list | Mapping) and value:
        return MASK
    return mask_secret_fields(value)
