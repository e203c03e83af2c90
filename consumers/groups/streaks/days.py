"""Which calendar day a quest completion counts for, in the streaks' time zone.

The streaks group's SQL keeps each member's days as runs (a ``datemultirange``) and reads the
current and longest streak off them; the reference definition of those runs, which the tests
hold the SQL to, is ``tests/streak_model.py``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from consumers.api import ConfigError, UnusableEvent


@lru_cache(maxsize=16)
def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``DRIP_STREAK_TIMEZONE``), or a ConfigError naming it.

    The settings refuse an unknown zone at start; settings built without validation still get
    the setting blamed, not the event.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"DRIP_STREAK_TIMEZONE={name!r} is not an IANA time zone name "
            "(for example UTC, Europe/Paris, Asia/Tokyo)"
        ) from None


def day_of(instant: datetime, timezone: str) -> date:
    """The calendar day ``instant`` (timezone-aware) falls on in ``timezone``.

    UnusableEvent when that day is past the calendar's range (a time in year 9999 shifted east).
    """
    if timezone == "UTC" and instant.tzinfo is UTC:
        return instant.date()  # the default calendar, and how event times are read: no lookup
    try:
        return instant.astimezone(zone(timezone)).date()
    except OverflowError:
        raise UnusableEvent(f"{instant.isoformat()} has no calendar day in {timezone}") from None
