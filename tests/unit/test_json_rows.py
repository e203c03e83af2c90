"""The JSON form of a batch's rows, and the SELECT that reads it back (no services)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from consumers.api import rows_param, select_rows


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([("a", None, 7)], '[["a",null,7]]'),
        (
            [(datetime(2024, 6, 1, 12, 0, 0, 5, tzinfo=UTC), date(2024, 2, 29))],
            '[["2024-06-01T12:00:00.000005+00:00","2024-02-29"]]',
        ),
        ([(datetime(2024, 6, 1, 12),)], '[["2024-06-01T12:00:00+00:00"]]'),
        (
            [(datetime(2024, 6, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))),)],
            '[["2024-06-01T00:00:00+05:30"]]',
        ),
    ],
)
def test_rows_param(rows: list[tuple[object, ...]], expected: str) -> None:
    assert rows_param(iter(rows)) == expected


def test_rows_param_refuses_other_objects() -> None:
    with pytest.raises(TypeError):
        rows_param([(object(),)])


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        ("a text", "SELECT (r ->> 0)::text AS a FROM jsonb_array_elements(%s::jsonb) AS r"),
        (
            "a text,\n    b timestamptz, c bigint",
            "SELECT (r ->> 0)::text AS a, (r ->> 1)::timestamptz AS b, (r ->> 2)::bigint AS c "
            "FROM jsonb_array_elements(%s::jsonb) AS r",
        ),
    ],
)
def test_select_rows(columns: str, expected: str) -> None:
    assert select_rows(columns) == expected
