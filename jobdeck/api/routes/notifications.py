"""Notification channels, rules and the delivery log (issue 15)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from jobdeck.api.deps import AdminUser, CurrentUser, RegistryDep, RuntimeDep
from jobdeck.api.notification_schemas import (
    AttemptPublic,
    ChannelCreate,
    ChannelCreated,
    ChannelPublic,
    ChannelsPublic,
    ChannelUpdate,
    DeliveriesPublic,
    DeliveryPublic,
    EmailPublic,
    EventsPublic,
    RuleCreate,
    RulePublic,
    RulesPublic,
    RuleUpdate,
    SecretRotated,
    TestSendResult,
)
from jobdeck.clock import utcnow
from jobdeck.errors import Conflict, InvalidInput
from jobdeck.notifications.announce import rules_changed, start_delivery
from jobdeck.notifications.channels import checked_url, email_config, prepare, redacted_url, rotated
from jobdeck.notifications.events import EVENTS, ChannelKind, DeliveryStatus
from jobdeck.notifications.senders import Sender
from jobdeck.notifications.vault import Vault
from jobdeck.store import notifications as store
from jobdeck.store.tables import (
    NotificationAttempt,
    NotificationChannel,
    NotificationDelivery,
    NotificationRule,
)

router = APIRouter(prefix="/api/notifications", tags=["notifications"])


def channel_public(channel: NotificationChannel) -> ChannelPublic:
    kind = ChannelKind(channel.kind)
    return ChannelPublic(
        id=channel.id,
        name=channel.name,
        kind=kind,
        url=channel.config.get("url"),
        email=EmailPublic(**channel.config) if kind is ChannelKind.EMAIL else None,
        enabled=channel.enabled,
        disabled=channel.disabled_at is not None,
        disabled_at=channel.disabled_at,
        disabled_reason=channel.disabled_reason,
        failing_since=channel.failing_since,
        created_at=channel.created_at,
        updated_at=channel.updated_at,
    )


def rule_public(rule: NotificationRule) -> RulePublic:
    return RulePublic(
        id=rule.id,
        name=rule.name,
        channel_id=rule.channel_id,
        events=rule.events,
        job_types=rule.job_types,
        name_pattern=rule.name_pattern,
        priorities=rule.priorities,
        enabled=rule.enabled,
        created_at=rule.created_at,
        updated_at=rule.updated_at,
    )


def delivery_public(
    delivery: NotificationDelivery, attempts: list[NotificationAttempt] | None = None
) -> DeliveryPublic:
    return DeliveryPublic(
        id=delivery.id,
        channel_id=delivery.channel_id,
        event=delivery.event,
        job_id=delivery.job_id,
        status=delivery.status,
        attempts=delivery.attempts,
        last_status_code=delivery.last_status_code,
        last_response=delivery.last_response,
        last_error=delivery.last_error,
        next_retry_at=delivery.next_retry_at,
        delivered_at=delivery.delivered_at,
        created_at=delivery.created_at,
        updated_at=delivery.updated_at,
        attempt_log=None
        if attempts is None
        else [
            AttemptPublic(
                number=a.number,
                status_code=a.status_code,
                response=a.response,
                error=a.error,
                duration_ms=a.duration_ms,
                created_at=a.created_at,
            )
            for a in attempts
        ],
    )


@router.get("/events", response_model=EventsPublic)
async def list_events(principal: CurrentUser) -> EventsPublic:
    """The events a rule may ask for."""
    return EventsPublic(events=list(EVENTS))


# Channels


@router.post("/channels", response_model=ChannelCreated, status_code=status.HTTP_201_CREATED)
async def create_channel(
    body: ChannelCreate, runtime: RuntimeDep, principal: AdminUser
) -> ChannelCreated:
    """Add a channel; a webhook's signing secret is in this response only."""
    config, secrets, shown = await prepare(
        kind=body.kind,
        url=body.url,
        secret=body.secret,
        email=body.email.model_dump() if body.email else None,
        settings=runtime.settings,
    )
    now = utcnow()
    channel = NotificationChannel(
        id=str(uuid.uuid4()),
        organization_id=principal.organization_id,
        name=body.name,
        kind=body.kind.value,
        config=config,
        secret=Vault.of(runtime.settings).seal(secrets),
        enabled=body.enabled,
        created_at=now,
        updated_at=now,
    )
    async with runtime.db.write() as session:
        await store.add_channel(session, channel=channel)
    return ChannelCreated(**channel_public(channel).model_dump(), secret=shown)


@router.get("/channels", response_model=ChannelsPublic)
async def list_channels(runtime: RuntimeDep, principal: CurrentUser) -> ChannelsPublic:
    """The organization's channels, and how many were disabled for failing."""
    async with runtime.db.read() as session:
        channels = await store.list_channels(session, organization_id=principal.organization_id)
    items = [channel_public(c) for c in channels]
    return ChannelsPublic(items=items, disabled_count=sum(1 for c in items if c.disabled))


@router.get("/channels/{channel_id}", response_model=ChannelPublic)
async def get_channel(
    channel_id: str, runtime: RuntimeDep, principal: CurrentUser
) -> ChannelPublic:
    """One channel (never its secrets)."""
    async with runtime.db.read() as session:
        channel = await store.get_channel(
            session, organization_id=principal.organization_id, channel_id=channel_id
        )
    return channel_public(channel)


@router.patch("/channels/{channel_id}", response_model=ChannelPublic)
async def update_channel(
    channel_id: str, body: ChannelUpdate, runtime: RuntimeDep, principal: AdminUser
) -> ChannelPublic:
    """Rename, re-point, enable or disable a channel (enabling clears a failure stop)."""
    vault = Vault.of(runtime.settings)
    async with runtime.db.write() as session:
        channel = await store.get_channel(
            session, organization_id=principal.organization_id, channel_id=channel_id
        )
        kind = ChannelKind(channel.kind)
        if body.url is not None:
            url = await checked_url(body.url, kind, runtime.settings)
            if kind is ChannelKind.WEBHOOK:
                channel.config = {**channel.config, "url": url}
            elif kind is ChannelKind.EMAIL:
                raise InvalidInput("an email channel takes email settings, not a url")
            else:
                channel.secret = vault.seal({**vault.open(channel.secret), "url": url})
                channel.config = {**channel.config, "url": redacted_url(url)}
        if body.email is not None:
            if kind is not ChannelKind.EMAIL:
                raise InvalidInput(f"a {kind.value} channel takes a url, not email settings")
            email = body.email.model_dump()
            channel.config = await email_config(email, runtime.settings)
            if email.get("password") is not None:
                channel.secret = vault.seal({"password": email["password"]})
        if body.name is not None:
            channel.name = body.name
        if body.enabled is not None:
            channel.enabled = body.enabled
            if body.enabled:
                channel.disabled_at = channel.disabled_reason = channel.failing_since = None
        channel.updated_at = utcnow()
    return channel_public(channel)


@router.delete("/channels/{channel_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_channel(channel_id: str, runtime: RuntimeDep, principal: AdminUser) -> None:
    """Delete a channel with its rules and delivery log (pending deliveries stop)."""
    async with runtime.db.write() as session:
        await store.delete_channel(
            session, organization_id=principal.organization_id, channel_id=channel_id
        )


@router.post("/channels/{channel_id}/rotate-secret", response_model=SecretRotated)
async def rotate_secret(
    channel_id: str, runtime: RuntimeDep, principal: AdminUser
) -> SecretRotated:
    """A new webhook signing secret; the old one keeps signing for the overlap (24 h)."""
    vault = Vault.of(runtime.settings)
    async with runtime.db.write() as session:
        channel = await store.get_channel(
            session, organization_id=principal.organization_id, channel_id=channel_id
        )
        if channel.kind != ChannelKind.WEBHOOK:
            raise Conflict(f"a {channel.kind} channel has no signing secret to rotate")
        now = utcnow()
        secrets, new, until = rotated(
            vault.open(channel.secret),
            now=now,
            overlap_s=runtime.settings.notification_secret_overlap_s,
        )
        channel.secret = vault.seal(secrets)
        channel.updated_at = now
    return SecretRotated(secret=new, previous_valid_until=until)


@router.post("/channels/{channel_id}/test", response_model=TestSendResult)
async def test_channel(
    channel_id: str, runtime: RuntimeDep, principal: CurrentUser
) -> TestSendResult:
    """Send a test notification now, once, and say what the receiver answered."""
    async with runtime.db.read() as session:
        channel = await store.get_channel(
            session, organization_id=principal.organization_id, channel_id=channel_id
        )
    now = utcnow()
    body: dict[str, Any] = {
        "type": "test",
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "data": {"organizationId": principal.organization_id, "channelId": channel.id},
    }
    # A client for this one rare call; deliveries share the worker's.
    sender = Sender(runtime.settings)
    try:
        result = await sender.send(
            kind=channel.kind,
            config=channel.config,
            secrets=Vault.of(runtime.settings).open(channel.secret),
            msg_id=f"msg_test_{uuid.uuid4().hex}",
            body=body,
            now=now,
        )
    finally:
        await sender.aclose()
    return TestSendResult(
        delivered=result.ok,
        status_code=result.status_code,
        response=result.response,
        error=result.error,
    )


@router.get("/channels/{channel_id}/deliveries", response_model=DeliveriesPublic)
async def list_deliveries(
    channel_id: str,
    runtime: RuntimeDep,
    principal: CurrentUser,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=store.MAX_PAGE)] = 50,
) -> DeliveriesPublic:
    """The channel's delivery log, newest first."""
    async with runtime.db.read() as session:
        await store.get_channel(
            session, organization_id=principal.organization_id, channel_id=channel_id
        )
        rows = await store.list_deliveries(
            session,
            channel_id=channel_id,
            limit=limit,
            status=status_.value if status_ else None,
        )
    return DeliveriesPublic(items=[delivery_public(d) for d in rows])


@router.get("/deliveries/{delivery_id}", response_model=DeliveryPublic)
async def get_delivery(
    delivery_id: str, runtime: RuntimeDep, principal: CurrentUser
) -> DeliveryPublic:
    """One delivery with every try."""
    async with runtime.db.read() as session:
        delivery = await store.get_delivery(
            session, organization_id=principal.organization_id, delivery_id=delivery_id
        )
        attempts = await store.list_attempts(session, delivery_id=delivery_id)
    return delivery_public(delivery, list(attempts))


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryPublic,
    status_code=status.HTTP_202_ACCEPTED,
)
async def redeliver(
    delivery_id: str, runtime: RuntimeDep, principal: CurrentUser
) -> DeliveryPublic:
    """Send a delivery again (same webhook-id), with a fresh retry schedule."""
    async with runtime.db.write() as session:
        delivery = await store.get_delivery(
            session, organization_id=principal.organization_id, delivery_id=delivery_id
        )
        if delivery.status == DeliveryStatus.PENDING:
            raise Conflict("this delivery is still being tried; wait for it to end")
        delivery.runs += 1
        delivery.status = DeliveryStatus.PENDING.value
        delivery.next_retry_at = None
        delivery.updated_at = utcnow()
        run = delivery.runs
    await start_delivery(runtime.settings, runtime.temporal, delivery_id, run=run)
    return delivery_public(delivery)


# Rules


async def _check_job_types(job_types: list[str], registry: RegistryDep) -> None:
    for name in job_types:
        registry.get(name)  # InvalidInput naming the known types


@router.post("/rules", response_model=RulePublic, status_code=status.HTTP_201_CREATED)
async def create_rule(
    body: RuleCreate, runtime: RuntimeDep, principal: AdminUser, registry: RegistryDep
) -> RulePublic:
    """Send some events (optionally only some jobs') to a channel."""
    await _check_job_types(body.job_types, registry)
    now = utcnow()
    async with runtime.db.write() as session:
        # A channel of another organization is as unknown as a missing one.
        await store.get_channel(
            session, organization_id=principal.organization_id, channel_id=body.channel_id
        )
        rule = NotificationRule(
            id=str(uuid.uuid4()),
            organization_id=principal.organization_id,
            channel_id=body.channel_id,
            name=body.name,
            events=body.events,
            job_types=sorted(set(body.job_types)),
            name_pattern=body.name_pattern or None,
            priorities=body.priorities,
            enabled=body.enabled,
            created_at=now,
            updated_at=now,
        )
        await store.add_rule(session, rule=rule)
    rules_changed(runtime.db, principal.organization_id)
    return rule_public(rule)


@router.get("/rules", response_model=RulesPublic)
async def list_rules(runtime: RuntimeDep, principal: CurrentUser) -> RulesPublic:
    """The organization's rules."""
    async with runtime.db.read() as session:
        rules = await store.list_rules(session, organization_id=principal.organization_id)
    return RulesPublic(items=[rule_public(r) for r in rules])


@router.get("/rules/{rule_id}", response_model=RulePublic)
async def get_rule(rule_id: str, runtime: RuntimeDep, principal: CurrentUser) -> RulePublic:
    """One rule."""
    async with runtime.db.read() as session:
        rule = await store.get_rule(
            session, organization_id=principal.organization_id, rule_id=rule_id
        )
    return rule_public(rule)


@router.patch("/rules/{rule_id}", response_model=RulePublic)
async def update_rule(
    rule_id: str,
    body: RuleUpdate,
    runtime: RuntimeDep,
    principal: AdminUser,
    registry: RegistryDep,
) -> RulePublic:
    """Change a rule's events, filters or switch."""
    if body.job_types is not None:
        await _check_job_types(body.job_types, registry)
    async with runtime.db.write() as session:
        rule = await store.get_rule(
            session, organization_id=principal.organization_id, rule_id=rule_id
        )
        given = body.model_dump(exclude_unset=True)
        for field in ("name", "events", "priorities", "enabled"):
            if given.get(field) is not None:
                setattr(rule, field, given[field])
        if body.job_types is not None:
            rule.job_types = sorted(set(body.job_types))
        if "name_pattern" in given:
            rule.name_pattern = body.name_pattern or None
        rule.updated_at = utcnow()
    rules_changed(runtime.db, principal.organization_id)
    return rule_public(rule)


@router.delete("/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rule(rule_id: str, runtime: RuntimeDep, principal: AdminUser) -> None:
    """Delete a rule."""
    async with runtime.db.write() as session:
        rule = await store.get_rule(
            session, organization_id=principal.organization_id, rule_id=rule_id
        )
        await session.delete(rule)
