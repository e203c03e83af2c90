"""The faults themselves: what each scenario breaks under load, and when the fault ends.

Each scenario is an async function of the running :class:`~bench.faults_stack.Stack` and the
run's :class:`Timing`; it returns the monotonic time at which its fault ended (the service is
back), from which the recovery time is counted.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bench.faults_check import spool_depth
from bench.faults_stack import PrivatePostgres, Stack
from core.contract import EventType

CONSUMER_KILLS = 10
"""How many times scenario d kills the consumer process."""

SPOOL_LIMIT_ENV = {"DRIP_MAX_BODY_BYTES": "4096", "DRIP_SPOOL_MAX_BYTES": "262144"}
"""Scenario f's receiver: 4 KiB bodies make one record's reservation 68 KiB, so a spool bound of
256 KiB (a few hundred events of 600-800 bytes) is allowed and is reached within seconds."""


@dataclass(frozen=True)
class Timing:
    """How long the phases of a scenario last, in seconds."""

    warmup_s: float  # steady load before the fault
    kafka_away_s: float  # scenarios b and f: broker stopped this long
    postgres_down_s: float  # scenario c: between stopping and starting PostgreSQL
    kills_over_s: float  # scenario d: the ten kills fall at random moments over this span
    spooling_s: float  # scenario e: spooling before the receiver is killed
    after_s: float  # steady load after the fault ended
    recovery_limit_s: float  # longest wait for recovery before the scenario is failed


FULL = Timing(20, 90, 20, 60, 20, 30, 300)
SHORT = Timing(8, 10, 5, 20, 5, 10, 150)


@dataclass
class Context:
    """What a scenario may touch besides its stack, and what it notes for the report."""

    postgres: PrivatePostgres
    timing: Timing
    notes: list[str] = field(default_factory=list)


Fault = Callable[[Stack, Context], Awaitable[float]]


async def leader_killed(stack: Stack, ctx: Context) -> float:
    """a. ``kill -9`` the node leading partition 0 of the points topic. It stays down: the two
    others carry on (min.insync.replicas 2), and recovery counts from the kill."""
    leader = await stack.kill_partition_leader(EventType.POINTS_AWARDED.value)
    ctx.notes.append(f"killed node {leader}, left down")
    return time.monotonic()


async def kafka_away(stack: Stack, ctx: Context) -> float:
    """b and f. Stop the broker for ``kafka_away_s``, then start it again."""
    await asyncio.to_thread(stack.stop_kafka)
    await asyncio.sleep(ctx.timing.kafka_away_s)
    ctx.notes.append(f"spool held {spool_depth(stack.settings.spool_directory)} before restart")
    await asyncio.to_thread(stack.start_kafka)
    return time.monotonic()


async def postgres_restarted(stack: Stack, ctx: Context) -> float:
    """c. Stop PostgreSQL (fast: sessions are cut), wait, start it again."""
    await asyncio.to_thread(ctx.postgres.stop)
    await asyncio.sleep(ctx.timing.postgres_down_s)
    await asyncio.to_thread(ctx.postgres.start)
    return time.monotonic()


async def consumer_killed(stack: Stack, ctx: Context) -> float:
    """d. ``kill -9`` the consumer process ten times at random moments, restarting it each
    time."""
    rng = random.Random()
    span = ctx.timing.kills_over_s
    moments = sorted(rng.uniform(0, span) for _ in range(CONSUMER_KILLS))
    started = time.monotonic()
    for moment in moments:
        await asyncio.sleep(max(0.0, started + moment - time.monotonic()))
        stack.consumer.kill9()
        stack.consumer.ensure()
    ctx.notes.append(f"{CONSUMER_KILLS} kills over {span:.0f} s")
    return time.monotonic()


async def receiver_killed(stack: Stack, ctx: Context) -> float:
    """e. Kafka away, the receiver spools, ``kill -9`` it; a new receiver on the same spool
    directory starts while Kafka is still away, claims the dead one's file and spools on;
    Kafka back, it drains both. Recovery counts from Kafka's return."""
    await asyncio.to_thread(stack.stop_kafka)
    await asyncio.sleep(ctx.timing.spooling_s)
    held = spool_depth(stack.settings.spool_directory)
    stack.receiver.kill9()
    ctx.notes.append(f"killed the receiver holding {held} spooled")
    if held == 0:
        ctx.notes.append("FAILED: the receiver held nothing when killed")
    await asyncio.to_thread(stack.start_receiver)
    await asyncio.sleep(ctx.timing.spooling_s)
    ctx.notes.append(
        f"the new receiver held {spool_depth(stack.settings.spool_directory)} spooled "
        "before Kafka came back"
    )
    await asyncio.to_thread(stack.start_kafka)
    return time.monotonic()


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    fault: Fault
    brokers: int = 1
    receiver_env: dict[str, str] = field(default_factory=dict)
    expects_503: bool = False  # f: the bound must be reached, or the scenario proved nothing


SCENARIOS = {
    s.key: s
    for s in (
        Scenario("a", "kill -9 a partition leader (3 brokers)", leader_killed, brokers=3),
        Scenario("b", "Kafka stopped (1 broker)", kafka_away),
        Scenario("c", "PostgreSQL restarted", postgres_restarted),
        Scenario("d", "kill -9 the consumer x10", consumer_killed),
        Scenario("e", "kill -9 the receiver holding spool", receiver_killed),
        Scenario(
            "f", "spool bound reached", kafka_away, receiver_env=SPOOL_LIMIT_ENV, expects_503=True
        ),
    )
}
