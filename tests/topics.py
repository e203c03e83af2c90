"""Topic prefixes for tests, and removing the topics a test session created.

Every prefix handed out in one pytest session starts with that session's own stem, so the
session can delete exactly its topics at the end. Without that, a developer's local broker
keeps every test's topics, and after a few hundred runs it takes minutes to load its logs at
start-up.
"""

from __future__ import annotations

import asyncio
import uuid

from aiokafka.admin import AIOKafkaAdminClient

SESSION_STEM = f"test-{uuid.uuid4().hex[:6]}-"


def new_prefix() -> str:
    """A topic prefix of one test alone, under this session's stem."""
    return f"{SESSION_STEM}{uuid.uuid4().hex[:8]}"


async def _delete_session_topics(bootstrap_servers: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=30_000)
    await admin.start()
    try:
        names = [name for name in await admin.list_topics() if name.startswith(SESSION_STEM)]
        if names:
            await admin.delete_topics(names)
        return len(names)
    finally:
        await admin.close()


def delete_session_topics(bootstrap_servers: str) -> int:
    """Delete the topics whose names start with this session's stem; how many there were."""
    return asyncio.run(_delete_session_topics(bootstrap_servers))
