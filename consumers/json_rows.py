"""A batch's rows sent to PostgreSQL as one JSON document rather than one array per column.

psycopg adapts an array parameter element by element in Python, which for a batch of a few
thousand rows costs more CPU than the rest of the consumer's work on it; ``orjson`` writes the
whole batch in one call, and PostgreSQL reads it back with :func:`select_rows`. Values keep
their types: strings, integers, None (null), and datetimes and dates as ISO 8601 strings that
PostgreSQL casts back exactly (with their UTC offset, to the microsecond).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, time

import orjson


def rows_param(rows: Iterable[Sequence[object]]) -> str:
    """The parameter for :func:`select_rows`: the rows as a JSON array of arrays."""
    return orjson.dumps(list(rows), default=_iso, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()


def utc_rows_param(rows: Iterable[Sequence[object]]) -> str:
    """:func:`rows_param` for rows whose datetimes are UTC, as :mod:`consumers.event_fields`
    returns them: ``orjson`` writes those itself, several times faster than calling back into
    Python for each one.

    Exact for any datetime whose UTC offset is a whole number of minutes (naive ones count as
    UTC); an offset with seconds would lose them, which is why :func:`rows_param` exists.
    """
    return orjson.dumps(list(rows), option=orjson.OPT_NAIVE_UTC).decode()


def _iso(value: object) -> str:
    # orjson's own datetime format drops the seconds of a UTC offset such as +05:30:15, which
    # ISO 8601 input may carry; isoformat keeps them, so the instant stored is the one read.
    if isinstance(value, date | time):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def select_rows(columns: str) -> str:
    """``SELECT`` of one row per element of a :func:`rows_param` parameter (``%s``).

    ``columns`` is ``"name type, name type, ..."`` in the order of each row's values; the result
    has those columns, named and typed so, in that order: a drop-in for ``SELECT * FROM
    unnest(...) AS e(...)``.
    """
    pairs = [column.split() for column in columns.split(",")]
    select = ", ".join(f"(r ->> {n})::{kind} AS {name}" for n, (name, kind) in enumerate(pairs))
    return f"SELECT {select} FROM jsonb_array_elements(%s::jsonb) AS r"
