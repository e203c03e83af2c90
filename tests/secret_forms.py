"""Every spelling of a secret that DRIP could send back, written out independently of
:mod:`dripbridge.redact`, so that tests can check the code against it."""

from __future__ import annotations

import json
import re
from urllib.parse import quote, quote_plus


def _lower_escapes(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), text)


def spellings(secret: str) -> dict[str, str]:
    """Name -> the secret as written that way."""
    json_ascii = json.dumps(secret)[1:-1]
    return {
        "plain": secret,
        "quote": quote(secret, safe=""),
        "quote keeping /": quote(secret),
        "quote_plus": quote_plus(secret),
        "quote, lower-case escapes": _lower_escapes(quote(secret, safe="")),
        "quote_plus, lower-case escapes": _lower_escapes(quote_plus(secret)),
        "JSON": json.dumps(secret, ensure_ascii=False)[1:-1],
        "JSON, ASCII": json_ascii,
        "JSON, upper-case \\u": re.sub(
            r"\\u([0-9a-f]{4})", lambda m: "\\u" + m[1].upper(), json_ascii
        ),
        "JSON, escaped /": json_ascii.replace("/", "\\/"),
    }


def leaked(text: str, secret: str) -> list[str]:
    """The names of the spellings of ``secret`` found in ``text``."""
    return [name for name, form in spellings(secret).items() if form in text]
