"""Registry: consumer group name -> the module that defines it.

Adding a group is one module under ``consumers/groups/``, one Alembic migration for its tables,
and one line here.
"""

from __future__ import annotations

import importlib
from typing import Any

from consumers.api import ConsumerGroup
from core.errors import ConfigError

_MODULES: dict[str, str] = {
    "leaderboard": "consumers.groups.leaderboard",
    "streaks": "consumers.groups.streaks",
    "purchases": "consumers.groups.purchases",
    "archive": "consumers.groups.archive",
}


def names() -> list[str]:
    """Every registered group name, in registry order."""
    return list(_MODULES)


def get(name: str) -> ConsumerGroup[Any]:
    """The group registered as ``name``, or a ConfigError listing the known names."""
    module = _MODULES.get(name)
    if module is None:
        raise ConfigError(f"unknown consumer group {name!r}; known groups: {', '.join(_MODULES)}")
    group: ConsumerGroup[Any] = importlib.import_module(module).GROUP
    return group


def all_groups() -> list[ConsumerGroup[Any]]:
    """Every registered group, loaded."""
    return [get(name) for name in _MODULES]
