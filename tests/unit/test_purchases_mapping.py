"""The purchases group's mapping: guide sample, cost, and what makes an event unusable."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from consumers.groups.purchases import GROUP, Purchase, rows_from
from core.errors import UnusableEvent
from core.settings import Settings
from tests.factories import GUIDE_SAMPLES
from tests.group_events import DELETE, group_event, with_field

SAMPLE = GUIDE_SAMPLES["store.purchase.completed"]
SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]


def test_guide_sample() -> None:
    row = rows_from(group_event(SAMPLE, event_id="evt-9"), SETTINGS)
    assert row == Purchase(
        purchase_id="507f1f77bcf86cd799439025",
        event_id="evt-9",
        realm_id="507f1f77bcf86cd799439011",
        member_id="507f1f77bcf86cd799439013",
        username="member123",
        item_id="507f1f77bcf86cd799439030",
        item_name="VIP Role",
        cost=1000,
        completed_at=datetime(2024, 1, 20, 17, 0, tzinfo=UTC),
    )


def test_group_reads_purchases_only() -> None:
    assert GROUP.group_id(SETTINGS) == "drip-purchases"
    assert GROUP.event_types == ("store.purchase.completed",)
    assert GROUP.topics("drip") == ["drip.store.purchase.completed"]


@pytest.mark.parametrize(
    ("path", "value", "field", "expected"),
    [
        ("data.purchase.item.cost", 0, "cost", 0),
        ("data.purchase.item.cost", 250.0, "cost", 250),
        ("data.purchase.item.cost", 2**40, "cost", 2**40),
        ("data.purchase.item.name", DELETE, "item_name", None),
        ("data.purchase.member.username", None, "username", None),
        ("data.purchase.id", 12345, "purchase_id", "12345"),
        (
            "data.purchase.completedAt",
            DELETE,
            "completed_at",
            datetime(2024, 1, 20, 17, 0, tzinfo=UTC),
        ),
        (
            "data.purchase.completedAt",
            "2024-01-21T00:30:00+02:00",
            "completed_at",
            datetime(2024, 1, 20, 22, 30, tzinfo=UTC),
        ),
    ],
)
def test_fields(path: str, value: Any, field: str, expected: Any) -> None:
    row = rows_from(group_event(with_field(SAMPLE, path, value)), SETTINGS)
    assert getattr(row, field) == expected


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("realmId", DELETE, "realmId is missing"),
        ("data", DELETE, "data is missing or not an object"),
        ("data.purchase", DELETE, "data.purchase is missing or not an object"),
        ("data.purchase", [], "data.purchase is missing or not an object"),
        ("data.purchase.id", DELETE, "data.purchase.id is missing"),
        ("data.purchase.id", {"oid": "x"}, "data.purchase.id must be a string, got object"),
        ("data.purchase.item", DELETE, "data.purchase.item.id is missing"),
        ("data.purchase.item.id", "  ", "data.purchase.item.id must not be empty"),
        ("data.purchase.item.cost", DELETE, "data.purchase.item.cost is missing"),
        ("data.purchase.item.cost", "1000", "data.purchase.item.cost must be a number, got string"),
        ("data.purchase.item.cost", True, "data.purchase.item.cost must be a number, got boolean"),
        ("data.purchase.item.cost", 9.5, "data.purchase.item.cost must be a whole number, got 9.5"),
        ("data.purchase.item.cost", -5, "data.purchase.item.cost must not be negative, got -5"),
        (
            "data.purchase.item.cost",
            2**63,
            f"data.purchase.item.cost is out of range for a 64-bit integer: {2**63}",
        ),
        (
            "data.purchase.item.cost",
            1e300,
            "data.purchase.item.cost is out of range for a 64-bit integer: 1e+300",
        ),
        ("data.purchase.member", DELETE, "data.purchase.member.id is missing"),
        (
            "data.purchase.member",
            3,
            "data.purchase.member must be an object, got number",
        ),
        (
            "data.purchase.completedAt",
            "2024-13-01",
            "data.purchase.completedAt is not an ISO 8601 date-time: '2024-13-01'",
        ),
    ],
)
def test_unusable_events(path: str, value: Any, message: str) -> None:
    with pytest.raises(UnusableEvent) as raised:
        rows_from(group_event(with_field(SAMPLE, path, value)), SETTINGS)
    assert str(raised.value) == message


def test_no_time_at_all() -> None:
    payload = with_field(with_field(SAMPLE, "data.purchase.completedAt", DELETE), "timestamp", None)
    with pytest.raises(UnusableEvent, match="completedAt and timestamp are both missing"):
        rows_from(group_event(payload), SETTINGS)
