"""`drip-bridge webhooks ...` driven through the real CLI against a stand-in of DRIP's API.

The stand-in is a real HTTP server on 127.0.0.1, so these tests see exactly what goes over the
wire: method, path, bearer token, JSON body. Every invocation also checks that the API key
never shows up in anything the command printed, in any spelling (URL-encoded, JSON-escaped).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator

import pytest
from typer.testing import CliRunner, Result

from core.contract import DOCUMENTED_TYPES
from core.exit_codes import ExitCode
from dripbridge.cli import app
from tests.http_standins import DripApiStandin, Fault
from tests.secret_forms import leaked, spellings

# Characters that URL-encoding and JSON escape, so each spelling of the key differs.
API_KEY = 'drip_sk_live/0123+4567=89&ab cd"ef\\SECRET'
REALM = "65a1b2c3d4e5f60718293a4b"
HOOK_URL = "https://hooks.example.com/webhooks/drip"

Run = Callable[..., Result]


@pytest.fixture
def drip() -> Iterator[DripApiStandin]:
    with DripApiStandin(API_KEY, REALM) as standin:
        yield standin


@pytest.fixture
def run(drip: DripApiStandin, tmp_path, monkeypatch) -> Run:
    monkeypatch.chdir(tmp_path)  # a developer's .env must not leak into these runs

    def invoke(*args: str, **env: str) -> Result:
        base = {
            "DRIP_API_BASE_URL": drip.base_url,
            "DRIP_API_KEY": API_KEY,
            "DRIP_REALM_ID": REALM,
            "DRIP_WEBHOOKS_PATH": "/realm/{realm_id}/webhooks",
            "DRIP_API_TIMEOUT_S": "3",
            "DRIP_API_MAX_RETRIES": "2",
            "DRIP_WEBHOOK_SECRETS": "",
        }
        result = CliRunner().invoke(app, ["webhooks", *args], env=base | env)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        for key in {API_KEY, env.get("DRIP_API_KEY", API_KEY)} - {""}:
            assert not leaked(result.output, key)
        return result

    return invoke


def _hook(drip: DripApiStandin, url: str = HOOK_URL, events: tuple[str, ...] = ("member.joined",)):
    hook_id = f"wh_seed{len(drip.webhooks)}"
    drip.webhooks[hook_id] = {"id": hook_id, "url": url, "events": list(events), "active": True}
    return hook_id


def test_register_generates_a_secret_and_prints_it_once(run: Run, drip: DripApiStandin) -> None:
    result = run("register", "--url", HOOK_URL, "--events", "member.joined,quest.completed")

    assert result.exit_code == 0, result.output
    (seen,) = drip.seen
    assert (seen.method, seen.path) == ("POST", f"/api/v1/realm/{REALM}/webhooks")
    assert seen.headers["authorization"] == f"Bearer {API_KEY}"
    body = seen.json()
    assert body["url"] == HOOK_URL
    assert body["events"] == ["member.joined", "quest.completed"]
    assert len(body["secret"]) >= 43  # token_urlsafe(32)
    assert result.stdout.count(body["secret"]) == 1
    assert "registered webhook wh_0001" in result.stdout
    assert "DRIP_WEBHOOK_SECRETS" in result.stdout
    assert drip.secrets["wh_0001"] == body["secret"]


def test_register_with_a_configured_secret_needs_no_reminder(run: Run, drip) -> None:
    secret = "already-configured-secret"
    result = run(
        "register", "--url", HOOK_URL, "--events", "member.left", "--secret", secret,
        DRIP_WEBHOOK_SECRETS=f"{secret},older-secret-value",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert drip.seen[0].json()["secret"] == secret
    assert secret not in result.stdout
    assert "DRIP_WEBHOOK_SECRETS" not in result.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--url", "http://hooks.example.com/x", "--events", "member.joined"], "https"),
        (["--url", "ftp://hooks.example.com/x", "--events", "member.joined"], "https"),
        (["--url", "hooks.example.com/x", "--events", "member.joined"], "https"),
        (["--url", HOOK_URL, "--events", "member.joined,member.jioned"], "member.jioned"),
        (["--url", HOOK_URL, "--events", " , "], "at least one"),
        (["--url", HOOK_URL, "--events", "quest.started", "--secret", "short"], "8+"),
        (["--url", HOOK_URL, "--events", "quest.started", "--secret", "with,comma-x"], "comma"),
    ],
)
def test_register_refuses_before_sending(run: Run, drip, args: list[str], fragment: str) -> None:
    result = run("register", *args)

    assert result.exit_code == ExitCode.USAGE
    assert fragment in result.output
    assert drip.seen == []


@pytest.mark.parametrize(
    ("url", "events", "flag", "sent_events"),
    [
        ("http://127.0.0.1:8000/webhooks/drip", "member.joined", "--allow-http", ["member.joined"]),
        (
            HOOK_URL,
            "member.joined,app.badge.earned",
            "--allow-unknown-events",
            ["member.joined", "app.badge.earned"],
        ),
        (HOOK_URL, ",".join(sorted(DOCUMENTED_TYPES)), None, sorted(DOCUMENTED_TYPES)),
        (HOOK_URL, "member.joined, member.joined", None, ["member.joined"]),
    ],
)
def test_register_accepts(run: Run, drip, url: str, events: str, flag, sent_events) -> None:
    result = run("register", "--url", url, "--events", events, *([flag] if flag else []))

    assert result.exit_code == 0, result.output
    assert drip.seen[0].json()["url"] == url
    assert drip.seen[0].json()["events"] == sent_events


@pytest.mark.parametrize("shape", ["data", "bare"])
def test_list_shows_every_webhook(run: Run, drip: DripApiStandin, shape: str) -> None:
    drip.list_shape = shape
    first = _hook(drip)
    second = _hook(drip, "https://other.example.org/drip", ("quest.completed", "quest.started"))
    drip.webhooks[second]["active"] = False

    table = run("list")
    as_json = run("list", "--json")

    assert table.exit_code == 0, table.output
    for text in (first, second, HOOK_URL, "https://other.example.org/drip", "quest.started"):
        assert text in table.stdout
    assert json.loads(as_json.stdout) == list(drip.webhooks.values())
    assert all((s.method, s.path) == ("GET", f"/api/v1/realm/{REALM}/webhooks") for s in drip.seen)


def test_list_says_when_there_is_nothing(run: Run) -> None:
    result = run("list")

    assert result.exit_code == 0
    assert f"no webhooks registered for realm {REALM}" in result.stdout


def test_update_sends_only_what_was_given(run: Run, drip: DripApiStandin) -> None:
    hook_id = _hook(drip)

    result = run("update", hook_id, "--events", "quest.completed", "--inactive")

    assert result.exit_code == 0, result.output
    (seen,) = drip.seen
    assert (seen.method, seen.path) == ("PATCH", f"/api/v1/realm/{REALM}/webhooks/{hook_id}")
    assert seen.json() == {"events": ["quest.completed"], "active": False}
    assert drip.webhooks[hook_id]["active"] is False
    assert drip.webhooks[hook_id]["url"] == HOOK_URL


def test_update_of_the_secret_reminds_of_the_receiver(run: Run, drip: DripApiStandin) -> None:
    hook_id = _hook(drip)

    result = run("update", hook_id, "--secret", "rotated-secret-2024", "--active")

    assert result.exit_code == 0, result.output
    assert drip.seen[0].json() == {"secret": "rotated-secret-2024", "active": True}
    assert "DRIP_WEBHOOK_SECRETS=old,new" in result.stdout


def test_update_needs_a_change(run: Run, drip: DripApiStandin) -> None:
    result = run("update", _hook(drip))

    assert result.exit_code == ExitCode.USAGE
    assert drip.seen == []


def test_delete_removes_the_webhook(run: Run, drip: DripApiStandin) -> None:
    hook_id = _hook(drip)

    result = run("delete", hook_id)

    assert result.exit_code == 0, result.output
    assert [(s.method, s.path) for s in drip.seen] == [
        ("DELETE", f"/api/v1/realm/{REALM}/webhooks/{hook_id}")
    ]
    assert drip.webhooks == {}


def test_the_path_follows_the_setting(run: Run, drip: DripApiStandin) -> None:
    result = run("list", DRIP_WEBHOOKS_PATH="/realms/{realm_id}/webhooks")

    assert result.exit_code == 0, result.output
    assert drip.seen[0].path == f"/api/v1/realms/{REALM}/webhooks"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


FAILURES = [
    # (faults, args, env, exit code, fragment of the message, requests the server saw)
    ([], ["list"], {"DRIP_API_KEY": "drip_sk_wrong_key_42"}, ExitCode.AUTH, "DRIP_API_KEY", 1),
    ([Fault(403, body={"message": "forbidden"})], ["list"], {}, ExitCode.AUTH, "HTTP 403", 1),
    ([], ["list"], {"DRIP_REALM_ID": "nope"}, ExitCode.NOT_FOUND, "DRIP_REALM_ID", 1),
    ([], ["delete", "wh_missing"], {}, ExitCode.NOT_FOUND, "webhook wh_missing not found", 1),
    ([], ["update", "wh_missing", "--active"], {}, ExitCode.NOT_FOUND, "webhooks list", 1),
    ([Fault(500, body={"message": "boom"})], ["list"], {}, ExitCode.HTTP_ERROR, "boom", 1),
    ([Fault(422, body={"error": "bad url"})], ["delete", "x"], {}, ExitCode.HTTP_ERROR, "422", 1),
    ([Fault(drop=True)], ["list"], {}, ExitCode.UNREACHABLE, "could not reach DRIP", 1),
    (
        [Fault(stall_s=2)],
        ["list"],
        {"DRIP_API_TIMEOUT_S": "0.3"},
        ExitCode.UNREACHABLE,
        "did not answer",
        1,
    ),
    ([Fault(429, {"Retry-After": "0"})] * 3, ["list"], {}, ExitCode.RATE_LIMITED, "429", 3),
    ([Fault(429, {"Retry-After": "3600"})], ["list"], {}, ExitCode.RATE_LIMITED, "3600 s", 1),
    ([], ["list"], {"DRIP_API_KEY": ""}, ExitCode.CONFIG, "DRIP_API_KEY not set", 0),
    ([], ["list"], {"DRIP_REALM_ID": ""}, ExitCode.CONFIG, "DRIP_REALM_ID not set", 0),
    ([], ["list"], {"DRIP_WEBHOOKS_PATH": "/r/{realm}/w"}, ExitCode.CONFIG, "{realm_id}", 0),
]


@pytest.mark.parametrize(("faults", "args", "env", "code", "fragment", "requests"), FAILURES)
def test_failures_have_their_own_exit_code(
    run: Run, drip: DripApiStandin, faults, args, env, code, fragment, requests
) -> None:
    drip.fail_next(*faults)

    result = run(*args, **env)

    assert result.exit_code == code, result.output
    assert fragment in result.stderr
    assert len(drip.seen) == requests


def test_unreachable_host(run: Run) -> None:
    result = run("list", DRIP_API_BASE_URL=f"http://127.0.0.1:{_closed_port()}/api/v1")

    assert result.exit_code == ExitCode.UNREACHABLE
    assert "DRIP_API_BASE_URL" in result.stderr


def test_retry_after_is_waited_out_then_the_call_succeeds(run: Run, drip: DripApiStandin) -> None:
    drip.fail_next(Fault(429, {"Retry-After": "1"}, {"message": "slow down"}))
    started = time.monotonic()

    result = run("register", "--url", HOOK_URL, "--events", "member.joined")

    assert result.exit_code == 0, result.output
    assert time.monotonic() - started >= 0.9
    first, second = drip.seen
    assert first.body == second.body
    assert list(drip.webhooks) == ["wh_0001"]


def test_verbose_logs_requests_but_never_the_key(run: Run, drip: DripApiStandin) -> None:
    result = run("-v", "list")

    assert result.exit_code == 0
    assert f"GET {drip.base_url}/realm/{REALM}/webhooks -> HTTP 200" in result.stderr


# --- secrets never printed ---------------------------------------------------------------------

CONFIGURED = "configured-secret/+=&é"
HOOK_SECRET = "hook-secret/+=&ü 42"
FORMS = sorted(spellings(API_KEY).items())


@pytest.mark.parametrize(("name", "form"), FORMS, ids=[n for n, _ in FORMS])
@pytest.mark.parametrize(
    "fault",
    [
        lambda form: Fault(400, body={"message": f"invalid token {form} for this realm"}),
        lambda form: Fault(500, body=[f"upstream said key={form}"]),
        lambda form: Fault(422, body={"error": "x" * 190 + form}),  # cut at 200 characters
    ],
    ids=["message", "raw body", "long message"],
)
def test_an_echoed_api_key_is_masked_in_errors(run: Run, drip, name, form, fault) -> None:
    drip.fail_next(fault(form))

    result = run("list")

    assert result.exit_code == ExitCode.HTTP_ERROR, result.output
    assert "***" in result.stderr
    assert not leaked(result.output, API_KEY)


@pytest.mark.parametrize(("name", "form"), FORMS, ids=[n for n, _ in FORMS])
@pytest.mark.parametrize("args", [["list"], ["list", "--json"], ["list", "--show-secrets"]])
def test_an_echoed_api_key_is_masked_in_answers(run: Run, drip, name, form, args) -> None:
    _hook(drip, f"https://hooks.example.com/drip?key={form}")

    result = run(*args)

    assert result.exit_code == 0, result.output
    assert "https://hooks.example.com/drip?key=***" in result.stdout
    assert not leaked(result.output, API_KEY)


def _seed_secret_hook(drip: DripApiStandin) -> str:
    hook_id = _hook(drip, f"https://hooks.example.com/drip?sig={spellings(HOOK_SECRET)['quote']}")
    drip.webhooks[hook_id]["secret"] = HOOK_SECRET
    return hook_id


@pytest.mark.parametrize("args", [["list"], ["list", "--json"]])
def test_list_hides_the_webhook_secrets(run: Run, drip: DripApiStandin, args) -> None:
    _seed_secret_hook(drip)

    result = run(*args)

    assert result.exit_code == 0, result.output
    assert not leaked(result.output, HOOK_SECRET)
    assert "https://hooks.example.com/drip?sig=***" in result.stdout
    if "--json" in args:
        (shown,) = json.loads(result.stdout)
        assert shown["secret"] == "***"


@pytest.mark.parametrize("as_json", [False, True])
def test_show_secrets_shows_them(run: Run, drip: DripApiStandin, as_json: bool) -> None:
    hook_id = _seed_secret_hook(drip)

    result = run("list", "--show-secrets", *(["--json"] if as_json else []))

    assert result.exit_code == 0, result.output
    if as_json:
        assert json.loads(result.stdout) == [drip.webhooks[hook_id]]
    else:
        assert HOOK_SECRET in result.stdout
        assert "secret" in result.stdout.splitlines()[1]


@pytest.mark.parametrize(("name", "form"), sorted(spellings(CONFIGURED).items()))
def test_a_configured_secret_echoed_in_an_error_is_masked(run: Run, drip, name, form) -> None:
    drip.fail_next(Fault(400, body={"message": f"secret {form} is already used"}))

    result = run("list", DRIP_WEBHOOK_SECRETS=f"{CONFIGURED},another-secret")

    assert result.exit_code == ExitCode.HTTP_ERROR
    assert "secret *** is already used" in result.stderr
    assert not leaked(result.output, CONFIGURED)


def test_a_secret_sent_and_echoed_back_is_not_printed(run: Run, drip: DripApiStandin) -> None:
    hook_id = _hook(drip)
    echoed = {"id": hook_id, "url": f"{HOOK_URL}?s={HOOK_SECRET}", "secret": HOOK_SECRET}
    drip.fail_next(Fault(200, body=echoed))

    result = run("update", hook_id, "--secret", HOOK_SECRET)

    assert result.exit_code == 0, result.output
    assert not leaked(result.output, HOOK_SECRET)
    assert f"{HOOK_URL}?s=***" in result.stdout


def test_a_generated_secret_is_shown_once_even_when_echoed(run: Run, drip) -> None:
    result = run("register", "--url", HOOK_URL, "--events", "member.joined")
    secret = drip.seen[0].json()["secret"]
    drip.fail_next(Fault(400, body={"message": f"secret {secret} taken"}))

    again = run("register", "--url", HOOK_URL, "--events", "member.joined", "--secret", secret)

    assert result.exit_code == 0, result.output
    assert result.output.count(secret) == 1
    assert "(shown once, store it now)" in result.stdout
    assert again.exit_code == ExitCode.HTTP_ERROR
    assert not leaked(again.output, secret)
