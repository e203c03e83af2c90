"""Signature verification: both body forms, rotation, and every way a header can be wrong."""

from __future__ import annotations

import json

import pytest

from bridge.signature import BadSignature, Failure, Form, Verifier, parse_header
from tests.factories import GUIDE_SAMPLES, GUIDE_TEST_POINTS, TEST_SECRET, pretty_body, sign

OLD_SECRET = "previous-secret-abcdefgh"
OTHER_SECRET = "not-the-configured-secret"
VERIFIER = Verifier([TEST_SECRET.encode(), OLD_SECRET.encode()], 64, 1024 * 1024)

PRETTY = pretty_body(GUIDE_SAMPLES["member.points.awarded"])
# What JSON.stringify(req.body) gives for the pretty body: key order kept, no whitespace.
COMPACT = json.dumps(
    GUIDE_SAMPLES["member.points.awarded"], separators=(",", ":"), ensure_ascii=False
).encode()
GUIDE_CURL = pretty_body(GUIDE_TEST_POINTS)


@pytest.mark.parametrize(
    ("body", "header", "form"),
    [
        pytest.param(PRETTY, sign(PRETTY), Form.RAW, id="raw-pretty"),
        pytest.param(COMPACT, sign(COMPACT), Form.RAW, id="raw-compact-body"),
        pytest.param(PRETTY, sign(COMPACT), Form.COMPACT, id="compact-of-pretty"),
        pytest.param(GUIDE_CURL, sign(GUIDE_CURL), Form.RAW, id="guide-curl-body"),
        pytest.param(PRETTY, sign(PRETTY, OLD_SECRET), Form.RAW, id="rotation-second-secret"),
        pytest.param(PRETTY, sign(COMPACT, OLD_SECRET), Form.COMPACT, id="rotation-compact"),
        pytest.param(PRETTY, sign(PRETTY).upper().replace("SHA256=", "sha256="), Form.RAW,
                     id="uppercase-hex"),
        pytest.param(PRETTY, "  " + sign(PRETTY) + " ", Form.RAW, id="surrounding-space"),
        pytest.param(PRETTY, sign(PRETTY).encode(), Form.RAW, id="header-as-bytes"),
        pytest.param(b'{"type":"x","n":1.0}', sign(b'{"type":"x","n":1}'), Form.COMPACT,
                     id="compact-writes-integral-float-as-int"),
    ],
)  # fmt: skip
def test_accepted(body: bytes, header: str | bytes, form: Form) -> None:
    found, signed = VERIFIER.verify(header, body)
    assert found is form
    assert VERIFIER.matches(parse_header(header), signed)
    assert (signed == body) is (form is Form.RAW)


# A duplicate key that the signature never covered: decoding keeps the last "data".
SMUGGLED = b'{"type": "x", "data": {"points": 1000000}, "data": {"points": 1}}'


def test_compact_match_returns_the_signed_bytes_not_the_body() -> None:
    signed_form = b'{"type":"x","data":{"points":1}}'
    assert VERIFIER.verify(sign(signed_form), SMUGGLED) == (Form.COMPACT, signed_form)


@pytest.mark.parametrize(
    ("body", "header", "reason"),
    [
        pytest.param(PRETTY, None, Failure.MISSING, id="missing"),
        pytest.param(PRETTY, "", Failure.MISSING, id="empty"),
        pytest.param(PRETTY, "   ", Failure.MISSING, id="blank"),
        pytest.param(PRETTY, "sha256=test", Failure.MALFORMED, id="guide-placeholder"),
        pytest.param(PRETTY, sign(PRETTY)[7:], Failure.MALFORMED, id="no-prefix"),
        pytest.param(PRETTY, "SHA256=" + sign(PRETTY)[7:], Failure.MALFORMED, id="prefix-case"),
        pytest.param(PRETTY, "sha1=" + sign(PRETTY)[7:], Failure.MALFORMED, id="other-algorithm"),
        pytest.param(PRETTY, sign(PRETTY)[:-1], Failure.MALFORMED, id="63-hex"),
        pytest.param(PRETTY, sign(PRETTY) + "0", Failure.MALFORMED, id="65-hex"),
        pytest.param(PRETTY, sign(PRETTY)[:-1] + "g", Failure.MALFORMED, id="non-hex"),
        pytest.param(PRETTY, "sha256=" + "ab " * 21 + "a", Failure.MALFORMED, id="spaced-hex"),
        pytest.param(PRETTY, sign(PRETTY) + "," + sign(PRETTY), Failure.MALFORMED, id="list"),
        pytest.param(PRETTY, "sha256=" + "é" * 64, Failure.MALFORMED, id="non-ascii"),
        pytest.param(PRETTY, sign(PRETTY, OTHER_SECRET), Failure.MISMATCH, id="wrong-secret"),
        pytest.param(PRETTY.replace(b"100", b"900"), sign(PRETTY), Failure.MISMATCH,
                     id="tampered-body"),
        pytest.param(COMPACT.replace(b"100", b"900"), sign(COMPACT), Failure.MISMATCH,
                     id="tampered-compact"),
        pytest.param(b"not json", sign(b"other"), Failure.MISMATCH, id="mismatch-not-json"),
        pytest.param(PRETTY, "sha256=" + "0" * 64, Failure.MISMATCH, id="zero-digest"),
        pytest.param(b'{"type":"x","data":{"points":9},"data":{"points":1}}',
                     sign(b'{"type":"x","data":{"points":1}}'), Failure.MISMATCH,
                     id="compact-body-with-duplicate-key"),
        pytest.param(b'{ "type": "x", "d": ' + b"[" * 65 + b"]" * 65 + b" }",
                     sign(b'{"type":"x","d":' + b"[" * 65 + b"]" * 65 + b"}"), Failure.MISMATCH,
                     id="compact-form-too-deep"),
        pytest.param(b'{ "type": "x", "d": ' + b"[" * 5000 + b"]" * 5000 + b" }",
                     sign(b"other"), Failure.MISMATCH, id="very-deep"),
    ],
)  # fmt: skip
def test_refused(body: bytes, header: str | None, reason: Failure) -> None:
    with pytest.raises(BadSignature) as caught:
        VERIFIER.verify(header, body)
    assert caught.value.reason is reason
    assert "X-Drip-Signature" in str(caught.value)


def test_error_never_echoes_secret_or_signature() -> None:
    header = sign(PRETTY, OTHER_SECRET)
    with pytest.raises(BadSignature) as caught:
        VERIFIER.verify(header, PRETTY)
    assert header[7:] not in str(caught.value)
    assert TEST_SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("secrets", "expected"),
    [([TEST_SECRET.encode()], True), ([OTHER_SECRET.encode()], False), ([], False)],
)
def test_matches(secrets: list[bytes], expected: bool) -> None:
    assert Verifier(secrets, 64, 1024).matches(parse_header(sign(PRETTY)), PRETTY) is expected
