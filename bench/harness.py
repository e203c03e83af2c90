"""Processes of a benchmark run: a server under test, and the open-loop load generator."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

_LOADGEN_SRC = Path(__file__).resolve().parent / "loadgen"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process (all its threads), from /proc; None if unknown."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its live descendants (a supervisor's workers), from /proc."""
    total = cpu_seconds(pid) or 0.0
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return total
    return total + sum(tree_cpu_seconds(int(child)) for child in children)


class Server:
    """A server process on 127.0.0.1:port, its output kept in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int, log: Path):
        self.name = name
        self.port = port
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def wait_ready(self, path: str, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}); see {self.log}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} not ready on port {self.port}; see {self.log}")

    def cpu(self) -> float:
        return tree_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully on SIGINT
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass(frozen=True)
class Step:
    """One fixed-rate step against one server, with the CPU each process used."""

    target: str
    rate: float
    result: dict[str, Any]
    server_cpu: float
    kafka_cpu: float | None

    @property
    def kept_up(self) -> bool:
        """Every request answered 200, at (nearly) the offered rate."""
        r = self.result
        return r["ok"] == r["offered"] and r["accepted_per_s"] >= 0.97 * self.rate

    @property
    def sustained(self) -> bool:
        """Kept up without collapse: p99 under 250 ms."""
        return self.kept_up and self.result["p99_ms"] < 250.0


class LoadGen:
    """The Go load generator, built from bench/loadgen with the local toolchain."""

    def __init__(self, workdir: Path) -> None:
        go = shutil.which("go")
        if go is None:
            raise RuntimeError("the benchmark's load generator needs Go (go build)")
        self.binary = workdir / "loadgen"
        env = {**os.environ, "GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
        subprocess.run(
            [go, "build", "-o", str(self.binary), "."], cwd=_LOADGEN_SRC, env=env, check=True
        )

    def run(
        self,
        port: int,
        requests: Path,
        rate: float,
        seconds: float,
        conns: int,
        source: str | None = None,
    ) -> dict[str, Any]:
        """One open-loop step; ``source`` is the loopback address to send from."""
        argv = [
            str(self.binary),
            f"-addr=127.0.0.1:{port}",
            f"-requests={requests}",
            f"-rate={rate}",
            f"-duration={seconds}s",
            f"-conns={conns}",
            "-drain=10s",
            *([f"-source={source}"] if source else []),
        ]
        done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120)
        result: dict[str, Any] = json.loads(done.stdout)
        return result
