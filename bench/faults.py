"""Fault suite: steady signed load through real processes while something breaks, then an exact
count of where every acknowledged event ended up.

    python -m bench.faults [--only a,b] [--short] [--rate 200]

For each scenario it starts a private Kafka (one node, or three for ``a``), a fresh database
in a private PostgreSQL, a ``drip-bridge serve`` receiver and a ``drip-bridge consume``
process (every group), sends guide-shaped signed events with unique ids (points awards, quest
completions, store purchases, in turn) at a fixed rate, injects the fault, and keeps the load
on until some time after the fault ended. Then it waits until the spool is empty and every
group has applied everything in the topics, and checks, for every request answered 200, that
its event is in its topic at least once and exactly once in each owning table
(``point_awards``, ``quest_completions``, ``purchases``, and the archive's ``events``).

Scenarios (``bench/faults_scenarios.py``):
  a  kill -9 the leader of a busy partition, three brokers (replication 3, min.insync 2)
  b  Kafka stopped for 90 s (10 s with --short), one broker: the spool carries it
  c  PostgreSQL restarted under load
  d  kill -9 the consumer process ten times at random moments, restarted each time
  e  kill -9 the receiver while it holds spooled records; a new one, started while Kafka is
     still away, spools on and drains both once Kafka is back
  f  the spool's size bound reached (Kafka away, DRIP_SPOOL_MAX_BYTES small): 503 Retry-After

Recovery time: from the fault's end (the service back) until the spool is empty and every
group has applied every record that was in the topics at that moment.

Every service listens on ports of its own under a temporary directory; the shared broker and
PostgreSQL are not touched. The run stops by itself (each scenario has a time limit) and
removes its processes and files. Exit status 1 if any scenario lost or doubled an event, or
failed otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import logging
import secrets
import shutil
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import uvloop

from bench.faults_check import (
    Tally,
    behind,
    direct_p99_ms,
    end_offsets,
    spool_depth,
    spooled_after_detection,
    table_event_ids,
    tally,
    topic_event_ids,
)
from bench.faults_load import Load
from bench.faults_scenarios import FULL, SCENARIOS, SHORT, Context, Scenario, Timing
from bench.faults_stack import PrivatePostgres, Stack
from core.settings import Settings
from devstack.kafka import LocalKafka

LOAD_CAP_S = 900.0
"""Longest any load runs, whatever happens to the scenario driving it."""

SCENARIO_LIMIT_S = {False: 900.0, True: 360.0}
"""Longest one scenario may take (full run, --short), start-up and checks included."""

POLL_S = 0.5


def _progress(text: str) -> None:
    """A timestamped line on stderr: where a long run stands."""
    print(f"  {time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


@dataclass
class Row:
    scenario: Scenario
    tally: Tally | None
    recovery_s: float | None
    notes: list[str]
    failure: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None and self.tally is not None and self.tally.clean


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.faults",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--only", default=",".join(SCENARIOS), help="scenarios, e.g. a,b")
    parser.add_argument("--short", action="store_true", help="short outages, for a quick run")
    parser.add_argument("--rate", type=float, default=200.0, help="events per second")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; known: {','.join(SCENARIOS)}")
    return args


async def _caught_up(stack: Stack, deadline: float) -> float | None:
    """When the spool is empty and every group has applied what the topics then held; None if
    that does not happen before ``deadline``."""
    settings = stack.settings
    while time.monotonic() < deadline:
        if await asyncio.to_thread(spool_depth, settings.spool_directory) == 0:
            try:
                ends = await asyncio.wait_for(end_offsets(settings), 20)
            except Exception:
                await asyncio.sleep(POLL_S)
                continue
            while time.monotonic() < deadline:
                try:
                    lag = await asyncio.to_thread(behind, settings.libpq_url, settings, ends)
                except Exception:  # PostgreSQL restarting: keep asking
                    lag = {"?": 1}
                if not any(lag.values()):
                    return time.monotonic()
                await asyncio.sleep(POLL_S)
        await asyncio.sleep(POLL_S)
    return None


async def _keep_consumer_up(stack: Stack, restarts: list[int]) -> None:
    """A supervisor's job: start the consumer again if it exits on its own."""
    while True:
        await asyncio.sleep(POLL_S)
        if stack.consumer.ensure():
            restarts[0] += 1


async def _run(scenario: Scenario, timing: Timing, args: argparse.Namespace, ctx: Context,
               stack: Stack) -> Row:  # fmt: skip
    _progress(f"{scenario.key}: starting Kafka ({scenario.brokers} node(s))")
    await asyncio.to_thread(stack.start_kafka)
    await asyncio.to_thread(stack.start_receiver)
    stack.consumer.start()
    _progress(f"{scenario.key}: load at {args.rate:g}/s")
    load = Load(stack.port, stack.secret, f"{scenario.key}-{uuid.uuid4().hex[:8]}", args.rate)
    sending = asyncio.create_task(load.run(LOAD_CAP_S))
    restarts = [0]
    watcher = asyncio.create_task(_keep_consumer_up(stack, restarts))
    try:
        await asyncio.sleep(timing.warmup_s)
        _progress(f"{scenario.key}: fault")
        fault_ended = await scenario.fault(stack, ctx)
        _progress(f"{scenario.key}: fault over")
        deadline = fault_ended + timing.recovery_limit_s
        recovering = asyncio.create_task(_caught_up(stack, deadline))
        await asyncio.sleep(timing.after_s)  # after the fault function returned: all is back
        load.stop()
        outcomes = await sending
        _progress(f"{scenario.key}: load stopped, {len(outcomes)} sent; waiting to catch up")
        ctx.notes.insert(0, f"sent {load.sent_per_s:.0f}/s")
        if load.skipped:
            ctx.notes.insert(1, f"{load.skipped} arrivals skipped (this machine fell behind)")
        recovered = await recovering
        # Everything sent is in: wait until the groups applied all of it, then count.
        final = await _caught_up(stack, time.monotonic() + timing.recovery_limit_s)
    finally:
        load.stop()
        watcher.cancel()
    if restarts[0]:
        ctx.notes.append(f"consumer exited on its own {restarts[0]}x (restarted)")
    if not stack.receiver.alive():
        ctx.notes.append("the receiver died")
    _progress(f"{scenario.key}: counting")
    in_topics = await topic_event_ids(stack.settings)
    in_tables = await asyncio.to_thread(table_event_ids, stack.settings.libpq_url)
    figures = tally(outcomes, in_topics, in_tables)
    direct = direct_p99_ms(outcomes)
    if direct is not None:
        ctx.notes.append(f"acknowledged by Kafka: p99 {direct:.0f} ms")
    while_away = spooled_after_detection(outcomes, fault_ended)
    if while_away is not None:
        ctx.notes.append(
            f"{while_away[0]} spooled while Kafka was away, once known: p99 {while_away[1]:.0f} ms"
        )
    all_spooled = spooled_after_detection(outcomes)
    if all_spooled is not None and while_away is not None and all_spooled[0] > while_away[0]:
        ctx.notes.append(
            f"{all_spooled[0] - while_away[0]} more spooled while the spool drained "
            f"(all {all_spooled[0]}: p99 {all_spooled[1]:.0f} ms)"
        )
    recovery = None if recovered is None else recovered - fault_ended
    failure = None
    if final is None:
        failure = f"not caught up within {timing.recovery_limit_s:.0f} s after the load"
    elif scenario.expects_503 and figures.unavailable == 0:
        failure = "the spool bound was never reached"
    elif any(note.startswith("FAILED") for note in ctx.notes):
        failure = next(note for note in ctx.notes if note.startswith("FAILED"))
    return Row(scenario, figures, recovery, ctx.notes, failure)


async def _scenario(scenario: Scenario, args: argparse.Namespace, work: Path, lib: Path,
                    postgres: PrivatePostgres) -> Row:  # fmt: skip
    timing = SHORT if args.short else FULL
    ctx = Context(postgres, timing)
    home = work / scenario.key
    home.mkdir()
    database = await asyncio.to_thread(postgres.database, f"faults_{scenario.key}")
    stack = Stack(home, lib, database, secrets.token_urlsafe(24), scenario.brokers,
                  scenario.receiver_env)  # fmt: skip
    try:
        async with asyncio.timeout(SCENARIO_LIMIT_S[args.short]):
            return await _run(scenario, timing, args, ctx, stack)
    except TimeoutError:
        return Row(scenario, None, None, ctx.notes, "scenario time limit reached")
    except Exception as exc:  # one scenario's failure is reported, the others still run
        return Row(scenario, None, None, ctx.notes, f"{type(exc).__name__}: {exc}")
    finally:
        await asyncio.to_thread(stack.stop_all)
        if not postgres.server.running():  # a scenario c cut short
            await asyncio.to_thread(postgres.start)


_HEAD = (
    f"{'scenario':42} {'requests':>8} {'200':>6} {'spooled':>7} {'503':>5} {'no ans.':>7} "
    f"{'in topics':>9} {'in tables':>9} {'lost':>5} {'doubled':>7} {'recovery':>9}"
)


def _line(row: Row) -> str:
    name = f"{row.scenario.key}. {row.scenario.title}"
    t = row.tally
    if t is None:
        return f"{name:42} FAILED: {row.failure}"
    recovery = "-" if row.recovery_s is None else f"{row.recovery_s:.1f} s"
    line = (
        f"{name:42} {t.requests:8d} {t.accepted:6d} {t.spooled:7d} {t.unavailable:5d} "
        f"{t.other:7d} {t.in_topics:9d} {t.in_tables:9d} {t.lost:5d} {t.doubled:7d} "
        f"{recovery:>9}"
    )
    if t.unanswered_503:
        line += f"  {t.unanswered_503} 503 without Retry-After"
    if row.failure:
        line += f"  FAILED: {row.failure}"
    return line


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(f"stopped by signal {signum}")  # unwinds through every clean-up


async def _main(args: argparse.Namespace, work: Path, lib: Path) -> list[Row]:
    postgres = PrivatePostgres(work)
    await asyncio.to_thread(postgres.start)
    rows = []
    try:
        print(_HEAD, flush=True)
        for key in args.only.split(","):
            row = await _scenario(SCENARIOS[key], args, work, lib, postgres)
            rows.append(row)
            print(_line(row), flush=True)
            if row.notes:
                print(f"{'':45}{'; '.join(row.notes)}", flush=True)
    finally:
        await asyncio.to_thread(postgres.stop)
    return rows


def main(argv: list[str] | None = None) -> None:
    args = _args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    faulthandler.register(signal.SIGUSR1)  # kill -USR1 <pid>: every thread's stack on stderr
    # The checks read from clusters with a node killed on purpose: aiokafka would log an error
    # for every attempt to reach it, burying the table.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    shared = LocalKafka(Settings())
    shared.install()  # the jars only (resolved once per checkout); no broker is started
    work = Path(tempfile.mkdtemp(prefix="drip-faults-"))
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"fault suite {started}, {'short' if args.short else 'full'}, {args.rate:g} events/s, "
          f"work dir {work}", flush=True)  # fmt: skip
    try:
        rows = uvloop.run(_main(args, work, shared.lib))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if not all(row.ok for row in rows):
        sys.exit("FAILED: " + ", ".join(row.scenario.key for row in rows if not row.ok))


if __name__ == "__main__":
    main()
