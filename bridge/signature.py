"""Verification of DRIP's ``X-Drip-Signature`` header.

The header is ``sha256=<hex>``: the HMAC-SHA256 of the body under the realm's webhook secret.
Two forms are accepted:

``raw``
    the HMAC of the bytes received. Checked first: it costs one HMAC per secret.
``compact``
    the HMAC of the body re-serialized as ``JSON.stringify`` writes it, which is what DRIP's
    sample receivers sign (``JSON.stringify(req.body)``). Checked only when ``raw`` fails,
    and only when the body's bytes show its compact form may differ (whitespace between
    tokens, escapes, fractions) within the depth limit: see :func:`bridge.ingest.compact_form`.

Verification returns the bytes the signature covered: the body, or its compact form. Those
are the bytes published, so nothing the signature did not cover (a second ``"data"`` key that
decoding drops, say) reaches Kafka.

Every configured secret is tried (rotation). Digests are compared with
:func:`hmac.compare_digest`.

Header grammar: the prefix ``sha256=`` in lower case, then exactly 64 hex digits in either
case (hex case carries no information, and some signers write upper case). Surrounding
whitespace is ignored. Anything else is ``malformed``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from enum import StrEnum

from bridge.ingest import compact_form
from core.errors import DripBridgeError

_PREFIX = b"sha256="
_HEADER_LEN = len(_PREFIX) + 64


class Form(StrEnum):
    """Which serialization of the body the signature matched."""

    RAW = "raw"
    COMPACT = "compact"


class Failure(StrEnum):
    """Why a signature was refused; the metric label of a 401."""

    MISSING = "missing"
    MALFORMED = "malformed"
    MISMATCH = "mismatch"
    DUPLICATE = "duplicate"


class BadSignature(DripBridgeError):
    """The request is not signed by a configured secret; answered with 401."""

    def __init__(self, reason: Failure) -> None:
        super().__init__(_MESSAGES[reason])
        self.reason = reason


_MESSAGES = {
    Failure.MISSING: "X-Drip-Signature header is missing",
    Failure.MALFORMED: "X-Drip-Signature must be sha256=<64 hex digits>",
    Failure.MISMATCH: "X-Drip-Signature does not match the body under any configured secret",
    Failure.DUPLICATE: "X-Drip-Signature is sent more than once; send exactly one",
}


def parse_header(value: bytes | str | None) -> bytes:
    """The 32-byte digest the header names, or BadSignature (missing or malformed)."""
    if value is None:
        raise BadSignature(Failure.MISSING)
    raw = value.encode("latin-1", "replace") if isinstance(value, str) else value
    raw = raw.strip()
    if not raw:
        raise BadSignature(Failure.MISSING)
    if len(raw) != _HEADER_LEN or not raw.startswith(_PREFIX):
        raise BadSignature(Failure.MALFORMED)
    try:
        digest = bytes.fromhex(raw[len(_PREFIX) :].decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise BadSignature(Failure.MALFORMED) from None
    if len(digest) != 32:  # fromhex skips spaces, so "ab cd..." decodes short
        raise BadSignature(Failure.MALFORMED)
    return digest


class Verifier:
    """Checks signatures against a fixed set of secrets, keyed once rather than per request.

    ``max_depth`` and ``max_bytes`` bound the compact form: a body nested deeper is never
    decoded, and a compact form longer than the body limit is never tried.
    """

    def __init__(self, secrets: Sequence[bytes], max_depth: int, max_bytes: int) -> None:
        self._keyed = [hmac.new(secret, digestmod=hashlib.sha256) for secret in secrets]
        self._max_depth = max_depth
        self._max_bytes = max_bytes

    def matches(self, digest: bytes, payload: bytes) -> bool:
        """True when ``digest`` is the HMAC-SHA256 of ``payload`` under one of the secrets."""
        for keyed in self._keyed:
            mac = keyed.copy()
            mac.update(payload)
            if hmac.compare_digest(mac.digest(), digest):
                return True
        return False

    def verify(
        self, header: bytes | str | None, body: bytes, *, compact: bool = True
    ) -> tuple[Form, bytes]:
        """The form the signature matched and the bytes it covers, or BadSignature.

        A body that is not JSON has no compact form, so a raw mismatch on it is a mismatch.
        ``compact=False`` checks the raw form alone: a correct delivery still passes, and a
        wrong one costs one HMAC rather than a decode and re-write of the body.
        """
        digest = parse_header(header)
        if self.matches(digest, body):
            return Form.RAW, body
        if not compact:
            raise BadSignature(Failure.MISMATCH)
        rewritten = compact_form(body, self._max_depth, self._max_bytes)
        if rewritten is not None and self.matches(digest, rewritten):
            return Form.COMPACT, rewritten
        raise BadSignature(Failure.MISMATCH)
