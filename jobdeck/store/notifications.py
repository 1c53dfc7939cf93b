"""The only door to the notification tables: channels, rules, deliveries and their tries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from jobdeck.errors import NotFound
from jobdeck.notifications.events import DeliveryStatus
from jobdeck.store.tables import (
    NotificationAttempt,
    NotificationChannel,
    NotificationDelivery,
    NotificationRule,
)

MAX_PAGE = 200


# Channels


async def add_channel(session: AsyncSession, *, channel: NotificationChannel) -> None:
    session.add(channel)
    await session.flush()


async def list_channels(
    session: AsyncSession, *, organization_id: str
) -> Sequence[NotificationChannel]:
    stmt = (
        select(NotificationChannel)
        .where(NotificationChannel.organization_id == organization_id)
        .order_by(NotificationChannel.created_at, NotificationChannel.id)
    )
    return (await session.execute(stmt)).scalars().all()


async def find_channel(session: AsyncSession, *, channel_id: str) -> NotificationChannel | None:
    return await session.get(NotificationChannel, channel_id)


async def get_channel(
    session: AsyncSession, *, organization_id: str, channel_id: str
) -> NotificationChannel:
    channel = await session.get(NotificationChannel, channel_id)
    if channel is None or channel.organization_id != organization_id:
        raise NotFound(f"notification channel {channel_id} not found")
    return channel


async def delete_channel(session: AsyncSession, *, organization_id: str, channel_id: str) -> None:
    channel = await get_channel(session, organization_id=organization_id, channel_id=channel_id)
    # Children first: SQLite enforces the foreign keys but cascades only when asked.
    deliveries = select(NotificationDelivery.id).where(
        NotificationDelivery.channel_id == channel.id
    )
    await session.execute(
        delete(NotificationAttempt).where(NotificationAttempt.delivery_id.in_(deliveries))
    )
    await session.execute(
        delete(NotificationDelivery).where(NotificationDelivery.channel_id == channel.id)
    )
    await session.execute(delete(NotificationRule).where(NotificationRule.channel_id == channel.id))
    await session.delete(channel)


async def channel_failed(
    session: AsyncSession, *, channel_id: str, now: datetime, disable_after_s: float
) -> bool:
    """Note a failed try on the channel; True when it has now failed for so long that it
    is disabled (the first time only)."""
    channel = await session.get(NotificationChannel, channel_id, with_for_update=True)
    if channel is None:
        return False
    if channel.failing_since is None:
        channel.failing_since = now
        return False
    failing_s = (now - channel.failing_since).total_seconds()
    if channel.disabled_at is None and failing_s >= disable_after_s:
        channel.disabled_at = now
        channel.disabled_reason = (
            f"every delivery failed for {failing_s / 3600:.1f} h; disabled. "
            "Fix the receiver, then enable the channel again."
        )
        channel.updated_at = now
        return True
    return False


async def channel_succeeded(session: AsyncSession, *, channel_id: str) -> None:
    await session.execute(
        update(NotificationChannel)
        .where(
            NotificationChannel.id == channel_id,
            NotificationChannel.failing_since.is_not(None),
        )
        .values(failing_since=None)
    )


# Rules


async def add_rule(session: AsyncSession, *, rule: NotificationRule) -> None:
    session.add(rule)
    await session.flush()


async def list_rules(session: AsyncSession, *, organization_id: str) -> Sequence[NotificationRule]:
    stmt = (
        select(NotificationRule)
        .where(NotificationRule.organization_id == organization_id)
        .order_by(NotificationRule.created_at, NotificationRule.id)
    )
    return (await session.execute(stmt)).scalars().all()


async def enabled_rules(
    session: AsyncSession, *, organization_id: str
) -> Sequence[NotificationRule]:
    """The organization's enabled rules: one indexed query, empty for most organizations."""
    stmt = select(NotificationRule).where(
        NotificationRule.organization_id == organization_id,
        NotificationRule.enabled.is_(True),
    )
    return (await session.execute(stmt)).scalars().all()


async def get_rule(
    session: AsyncSession, *, organization_id: str, rule_id: str
) -> NotificationRule:
    rule = await session.get(NotificationRule, rule_id)
    if rule is None or rule.organization_id != organization_id:
        raise NotFound(f"notification rule {rule_id} not found")
    return rule


# Deliveries


async def insert_delivery(session: AsyncSession, *, values: dict[str, Any]) -> bool:
    """Insert a delivery unless one with its id exists; True when it is new."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(NotificationDelivery)
        .values(**values)
        .on_conflict_do_nothing()
        .returning(NotificationDelivery.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def find_delivery(session: AsyncSession, *, delivery_id: str) -> NotificationDelivery | None:
    return await session.get(NotificationDelivery, delivery_id)


async def get_delivery(
    session: AsyncSession, *, organization_id: str, delivery_id: str
) -> NotificationDelivery:
    delivery = await session.get(NotificationDelivery, delivery_id)
    if delivery is None or delivery.organization_id != organization_id:
        raise NotFound(f"notification delivery {delivery_id} not found")
    return delivery


async def list_deliveries(
    session: AsyncSession,
    *,
    channel_id: str,
    limit: int,
    status: str | None = None,
) -> Sequence[NotificationDelivery]:
    stmt = select(NotificationDelivery).where(NotificationDelivery.channel_id == channel_id)
    if status is not None:
        stmt = stmt.where(NotificationDelivery.status == status)
    stmt = stmt.order_by(NotificationDelivery.created_at.desc(), NotificationDelivery.id.desc())
    return (await session.execute(stmt.limit(min(limit, MAX_PAGE)))).scalars().all()


async def list_attempts(
    session: AsyncSession, *, delivery_id: str
) -> Sequence[NotificationAttempt]:
    stmt = (
        select(NotificationAttempt)
        .where(NotificationAttempt.delivery_id == delivery_id)
        .order_by(NotificationAttempt.id)
    )
    return (await session.execute(stmt)).scalars().all()


async def record_attempt(
    session: AsyncSession,
    *,
    delivery: NotificationDelivery,
    now: datetime,
    status: DeliveryStatus,
    status_code: int | None,
    response: str | None,
    error: str | None,
    duration_ms: int,
    next_retry_at: datetime | None,
) -> None:
    """One try of a delivery: its row in the log, and the delivery's latest state."""
    delivery.attempts += 1
    session.add(
        NotificationAttempt(
            delivery_id=delivery.id,
            number=delivery.attempts,
            status_code=status_code,
            response=response,
            error=error,
            duration_ms=duration_ms,
            created_at=now,
        )
    )
    delivery.status = status.value
    delivery.last_status_code = status_code
    delivery.last_response = response
    delivery.last_error = error
    delivery.next_retry_at = next_retry_at
    delivery.updated_at = now
    if status is DeliveryStatus.DELIVERED:
        delivery.delivered_at = now
