"""Real HTTP servers on 127.0.0.1 that play the other side of our HTTP clients in tests.

- :class:`DripApiStandin` plays DRIP's webhook management API: it keeps webhooks, checks the
  bearer token and the path, and can be told to fail the next requests (an error status, a
  429 with Retry-After, a dropped connection, a stall).
- :class:`ReceiverStandin` plays our receiver: it verifies ``X-Drip-Signature`` itself.

Both record every request so tests assert on what really went over the wire.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Fault:
    """What to do instead of answering normally: a status, a drop, or a stall."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    drop: bool = False
    stall_s: float = 0.0


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        seen = Seen(
            self.command,
            self.path,
            {k.lower(): v for k, v in self.headers.items()},
            self.rfile.read(length),
        )
        self.server.owner.seen.append(seen)
        fault = self.server.owner.next_fault()
        if fault is not None and fault.stall_s:
            time.sleep(fault.stall_s)
        if fault is not None and (fault.drop or fault.stall_s):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        status, headers, body = (
            (fault.status, fault.headers, fault.body)
            if fault is not None
            else self.server.owner.answer(seen)
        )
        raw = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if raw:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _any

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # socketserver listens with a backlog of 5; concurrent clients (`drip-bridge demo` keeps
    # 16 requests in flight) overflow it and some connections are reset.
    request_queue_size = 128
    owner: _Standin


class _Standin:
    """A threaded HTTP server on a free loopback port; use it as a context manager."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail_next(self, *faults: Fault) -> None:
        """Answer the next requests with these faults, in order, then normally again."""
        self.faults.extend(faults)

    def next_fault(self) -> Fault | None:
        with self._lock:
            return self.faults.popleft() if self.faults else None

    def answer(self, seen: Seen) -> tuple[int, dict[str, str], Any]:
        raise NotImplementedError

    def __enter__(self) -> Self:
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class DripApiStandin(_Standin):
    """DRIP's webhook endpoints of one realm under ``/api/v1``, kept in memory."""

    def __init__(self, api_key: str, realm: str, *, list_shape: str = "data") -> None:
        super().__init__()
        self.api_key = api_key
        self.realm = realm
        self.list_shape = list_shape
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.secrets: dict[str, str] = {}
        self._ids = itertools.count(1)

    @property
    def base_url(self) -> str:
        return f"{self.origin}/api/v1"

    def answer(self, seen: Seen) -> tuple[int, dict[str, str], Any]:
        if seen.headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {}, {"message": "Invalid API key"}
        found = re.fullmatch(r"/api/v1/realms?/([^/]+)/webhooks(?:/([^/]+))?", seen.path)
        if found is None:
            return 404, {}, {"message": "Cannot " + seen.method + " " + seen.path}
        realm, hook_id = found.groups()
        if realm != self.realm:
            return 404, {}, {"message": "Realm not found"}
        if hook_id is None:
            return self._collection(seen)
        if hook_id not in self.webhooks:
            return 404, {}, {"message": "Webhook not found"}
        if seen.method == "PATCH":
            changes = seen.json()
            if "secret" in changes:
                self.secrets[hook_id] = changes.pop("secret")
            self.webhooks[hook_id].update(changes)
            return 200, {}, self.webhooks[hook_id]
        if seen.method == "DELETE":
            del self.webhooks[hook_id]
            return 204, {}, None
        return 405, {}, {"message": "Method not allowed"}

    def _collection(self, seen: Seen) -> tuple[int, dict[str, str], Any]:
        if seen.method == "GET":
            hooks = list(self.webhooks.values())
            return 200, {}, hooks if self.list_shape == "bare" else {"data": hooks}
        if seen.method == "POST":
            body = seen.json()
            if not isinstance(body.get("url"), str) or not isinstance(body.get("events"), list):
                return 400, {}, {"message": "url and events are required"}
            hook_id = f"wh_{next(self._ids):04d}"
            self.secrets[hook_id] = body.get("secret", "")
            self.webhooks[hook_id] = {
                "id": hook_id,
                "url": body["url"],
                "events": body["events"],
                "active": True,
                "createdAt": "2024-01-20T15:30:00Z",
            }
            return 201, {}, self.webhooks[hook_id]
        return 405, {}, {"message": "Method not allowed"}


class ReceiverStandin(_Standin):
    """``POST /webhooks/drip`` that checks the signature against ``secret`` as DRIP signs."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret.encode()

    @property
    def url(self) -> str:
        return f"{self.origin}/webhooks/drip"

    def answer(self, seen: Seen) -> tuple[int, dict[str, str], Any]:
        if seen.method != "POST" or seen.path != "/webhooks/drip":
            return 404, {}, {"error": "not found"}
        expected = "sha256=" + hmac.new(self.secret, seen.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(seen.headers.get("x-drip-signature", ""), expected):
            return 401, {}, {"error": "invalid signature"}
        return 200, {}, {"status": "accepted"}
