"""The DRIP event payloads, one pydantic model per documented event type, for the topic document.

These models describe the record values (the exact JSON DRIP sent) in ``docs/asyncapi.yaml``;
neither the receiver nor the consumer groups validate events with them (the receiver requires a
``type`` only, each group reads the fields it needs and dead-letters what it cannot use).

The fields are those of the samples in DRIP's webhook guide, which names no optional field: a
field shown in a type's sample is required, unless another of the guide's events of the same
shape leaves it out (``points.realmPoint.id`` is missing from its manual test event). Every
model allows additional properties, since DRIP may add fields to its events at any time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.contract import OTHER, EventType


class _Open(BaseModel):
    """An object of DRIP's JSON that may carry fields the guide does not document."""

    # Fields are titled by their JSON names (``realmId``), not pydantic's ``Realmid``.
    model_config = ConfigDict(extra="allow", field_title_generator=lambda name, _: name)


class _Envelope(_Open):
    """The fields every DRIP event carries around its ``data``."""

    timestamp: datetime = Field(description="When the event happened in DRIP (ISO 8601).")
    realmId: str = Field(
        description="The realm the event belongs to; the record key without a member."
    )


# --- pieces shared by several types --------------------------------------------------------


class MemberRef(_Open):
    """The member an event is about: the record key."""

    id: str = Field(description="The member id: the record key.")
    username: str


class Quest(_Open):
    """A quest, as ``quest.started`` names it."""

    id: str
    name: str


# --- member.joined -------------------------------------------------------------------------


class Credential(_Open):
    """An account the member linked (``discord`` and its user id, for example)."""

    type: str
    platformId: str


class JoinedMember(_Open):
    """The member who joined, with their profile."""

    id: str = Field(description="The member id: the record key.")
    username: str
    displayName: str
    joinedAt: datetime
    credentials: list[Credential]


class MemberJoinedData(_Open):
    member: JoinedMember


class MemberJoined(_Envelope):
    """``member.joined``: a new member joined the realm."""

    type: Literal["member.joined"]
    data: MemberJoinedData


# --- member.left ---------------------------------------------------------------------------


class MemberLeftData(_Open):
    memberId: str = Field(description="The member id: the record key.")
    leftAt: datetime


class MemberLeft(_Envelope):
    """``member.left``: a member left the realm."""

    type: Literal["member.left"]
    data: MemberLeftData


# --- member.points.awarded -----------------------------------------------------------------


class RealmPoint(_Open):
    """The realm's point currency the award is in."""

    id: str | None = Field(None, description="Missing from the guide's manual test event.")
    name: str
    emoji: str


class Points(_Open):
    amount: int = Field(description="Points awarded, in the realm point's unit.")
    realmPoint: RealmPoint


class PointsAwardedData(_Open):
    member: MemberRef
    points: Points
    reason: str
    newBalance: int = Field(description="The member's balance of this realm point after the award.")


class PointsAwarded(_Envelope):
    """``member.points.awarded``: points were awarded to a member."""

    type: Literal["member.points.awarded"]
    data: PointsAwardedData


# --- quest.started -------------------------------------------------------------------------


class QuestStartedData(_Open):
    quest: Quest
    member: MemberRef
    startedAt: datetime


class QuestStarted(_Envelope):
    """``quest.started``: a member started a quest."""

    type: Literal["quest.started"]
    data: QuestStartedData


# --- quest.completed -----------------------------------------------------------------------


class CompletedQuest(Quest):
    """A quest, as ``quest.completed`` names it: with its kind."""

    type: str = Field(description="The kind of quest, ``daily`` for example.")


class Reward(_Open):
    """A reward the member received for completing the quest."""

    type: str = Field(description="The kind of reward, ``points`` for example.")
    amount: int
    realmPointId: str


class QuestCompletedData(_Open):
    quest: CompletedQuest
    member: MemberRef
    completedAt: datetime
    rewards: list[Reward]


class QuestCompleted(_Envelope):
    """``quest.completed``: a member completed a quest."""

    type: Literal["quest.completed"]
    data: QuestCompletedData


# --- store.purchase.completed --------------------------------------------------------------


class StoreItem(_Open):
    id: str
    name: str
    cost: int = Field(description="The price, in the realm's points.")


class Purchase(_Open):
    id: str
    item: StoreItem
    member: MemberRef
    completedAt: datetime


class PurchaseCompletedData(_Open):
    purchase: Purchase


class PurchaseCompleted(_Envelope):
    """``store.purchase.completed``: a member completed a store purchase."""

    type: Literal["store.purchase.completed"]
    data: PurchaseCompletedData


# --- anything else -------------------------------------------------------------------------


class CustomEvent(_Open):
    """Any event type the guide does not document (custom events from other apps).

    The receiver requires only a non-empty string ``type``; the rest is whatever the app sent.
    """

    type: str = Field(min_length=1, description="The event type, as the app named it.")
    timestamp: datetime | None = None
    realmId: str | None = Field(None, description="The record key, when the event names it.")
    data: dict[str, object] | None = None


PAYLOADS: dict[str, type[BaseModel]] = {
    EventType.MEMBER_JOINED: MemberJoined,
    EventType.MEMBER_LEFT: MemberLeft,
    EventType.POINTS_AWARDED: PointsAwarded,
    EventType.QUEST_STARTED: QuestStarted,
    EventType.QUEST_COMPLETED: QuestCompleted,
    EventType.PURCHASE_COMPLETED: PurchaseCompleted,
    OTHER: CustomEvent,
}
"""The payload model of each topic suffix: every documented type, and ``other``."""
