"""`drip-bridge send-test` through the real CLI, against a loopback receiver that verifies the
signature itself: what it prints, what went over the wire, and its exit codes."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterator

import pytest
from typer.testing import CliRunner, Result

from core.contract import DOCUMENTED_TYPES, event_identity, member_id_of
from core.exit_codes import ExitCode
from core.settings import Settings
from dripbridge.cli import app
from dripbridge.send_test import receiver_url
from tests.factories import GUIDE_SAMPLES, TEST_SECRET, pretty_body
from tests.http_standins import Fault, ReceiverStandin

Run = Callable[..., Result]


@pytest.fixture
def receiver() -> Iterator[ReceiverStandin]:
    with ReceiverStandin(TEST_SECRET) as standin:
        yield standin


@pytest.fixture
def run(receiver: ReceiverStandin, tmp_path, monkeypatch) -> Run:
    monkeypatch.chdir(tmp_path)  # a developer's .env must not leak into these runs

    def invoke(*args: str, **env: str) -> Result:
        base = {"DRIP_WEBHOOK_SECRETS": f"{TEST_SECRET},an-older-secret", "DRIP_REALM_ID": ""}
        result = CliRunner().invoke(app, ["send-test", *args], env=base | env)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return invoke


def test_points_events_are_signed_fresh_and_growing(run: Run, receiver: ReceiverStandin) -> None:
    result = run("member.points.awarded", "--count", "4", "--url", receiver.url, "--member", "m-1")

    assert result.exit_code == 0, result.output
    events = [json.loads(seen.body) for seen in receiver.seen]
    assert len(events) == 4
    assert {member_id_of(e) for e in events} == {"m-1"}
    balances = [e["data"]["newBalance"] for e in events]
    assert balances == sorted(set(balances))
    lines = [line for line in result.stdout.splitlines() if line.startswith("[")]
    for n, (line, event) in enumerate(zip(lines, events, strict=True), 1):
        assert line.startswith(f"[{n}/4] HTTP 200 member.points.awarded")
        assert f"id={event_identity(event)}" in line
        assert '"status": "accepted"' in line
    assert f"sent 4 event(s) to {receiver.url}" in result.stdout


@pytest.mark.parametrize("event_type", [*sorted(DOCUMENTED_TYPES), "app.badge.earned"])
def test_each_type_reaches_the_receiver(run: Run, receiver: ReceiverStandin, event_type) -> None:
    result = run(event_type, "--url", receiver.url, "--realm", "realm-9")

    assert result.exit_code == 0, result.output
    (seen,) = receiver.seen
    event = json.loads(seen.body)
    assert (event["type"], event["realmId"]) == (event_type, "realm-9")
    assert seen.headers["content-type"] == "application/json"
    assert re.fullmatch(r"sha256=[0-9a-f]{64}", seen.headers["x-drip-signature"])


def test_a_captured_body_goes_byte_for_byte(run: Run, receiver: ReceiverStandin, tmp_path) -> None:
    body = pretty_body(GUIDE_SAMPLES["store.purchase.completed"])
    captured = tmp_path / "captured.json"
    captured.write_bytes(body)

    result = run("--file", str(captured), "--count", "2", "--url", receiver.url)

    assert result.exit_code == 0, result.output
    assert [seen.body for seen in receiver.seen] == [body, body]
    identity = event_identity(GUIDE_SAMPLES["store.purchase.completed"])
    assert result.stdout.count(f"id={identity}") == 2


def test_the_default_url_comes_from_the_settings(run: Run, receiver: ReceiverStandin) -> None:
    port = receiver.url.split(":")[2].split("/")[0]

    result = run("member.joined", DRIP_HTTP_HOST="127.0.0.1", DRIP_HTTP_PORT=port)

    assert result.exit_code == 0, result.output
    assert len(receiver.seen) == 1


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("0.0.0.0", "http://127.0.0.1:8000/webhooks/drip"),
        ("::", "http://[::1]:8000/webhooks/drip"),
        ("10.1.2.3", "http://10.1.2.3:8000/webhooks/drip"),
    ],
)
def test_receiver_url(host: str, url: str) -> None:
    assert receiver_url(Settings(http_host=host, http_port=8000)) == url


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("env", "faults", "code", "fragment", "received"),
    [
        ({"DRIP_WEBHOOK_SECRETS": "not-the-receivers-secret"}, [], ExitCode.HTTP_ERROR, "401", 2),
        (
            {},
            [Fault(503, {"Retry-After": "5"}, {"error": "kafka"})],
            ExitCode.HTTP_ERROR,
            "1 of 2",
            2,
        ),
        ({"DRIP_WEBHOOK_SECRETS": ""}, [], ExitCode.CONFIG, "DRIP_WEBHOOK_SECRETS", 0),
        ({}, [Fault(drop=True)], ExitCode.UNREACHABLE, "is `drip-bridge serve` running", 1),
    ],
)
def test_failures(run: Run, receiver: ReceiverStandin, env, faults, code, fragment, received):
    receiver.fail_next(*faults)

    result = run("quest.completed", "--count", "2", "--url", receiver.url, **env)

    assert result.exit_code == code, result.output
    assert fragment in result.stderr
    assert len(receiver.seen) == received


def test_nobody_listening(run: Run) -> None:
    result = run("member.left", "--url", f"http://127.0.0.1:{_closed_port()}/webhooks/drip")

    assert result.exit_code == ExitCode.UNREACHABLE
    assert "no answer from the receiver" in result.stderr


@pytest.mark.parametrize("args", [[], ["member.joined", "--file", "pyproject.toml"]])
def test_type_or_file(run: Run, receiver: ReceiverStandin, args: list[str], tmp_path) -> None:
    (tmp_path / "pyproject.toml").write_text("{}")

    result = run(*args, "--url", receiver.url)

    assert result.exit_code == ExitCode.USAGE
    assert receiver.seen == []


@pytest.mark.parametrize(
    ("event_type", "warned"),
    [
        *[(t, False) for t in sorted(DOCUMENTED_TYPES)],
        ("app.badge.earned", True),
        ("member.jioned", True),
        ("Member.Joined", True),
    ],
)
def test_an_undocumented_type_is_sent_with_a_warning(
    run: Run, receiver: ReceiverStandin, event_type: str, warned: bool
) -> None:
    result = run(event_type, "--url", receiver.url, DRIP_TOPIC_PREFIX="shop")

    assert result.exit_code == 0, result.output
    assert [json.loads(seen.body)["type"] for seen in receiver.seen] == [event_type]
    assert ("warning:" in result.stderr) is warned
    if warned:
        assert f"{event_type!r} is not a type in DRIP's guide" in result.stderr
        assert "shop.other" in result.stderr
