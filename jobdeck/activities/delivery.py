"""The notification delivery's one activity: a single try of a delivery, recorded in its
log with the delay before the next (the schedule with jitter, or a receiver's
retry_after). The secret is read here, from the database, by channel id: it never
travels through workflow history."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from jobdeck.activities.base import ActivityGroup
from jobdeck.clock import utcnow
from jobdeck.notifications.events import AttemptOutcome, DeliveryStatus
from jobdeck.notifications.senders import Sender, SendResult
from jobdeck.notifications.vault import SecretUnreadable, Vault
from jobdeck.store import notifications as store

logger = logging.getLogger(__name__)


@dataclass
class AttemptInput:
    delivery_id: str
    number: int  # the try's number within this run of the delivery (1, 2, ...)


class Deliveries(ActivityGroup):
    _sender: Sender | None = None

    def sender(self) -> Sender:
        if self._sender is None:
            self._sender = Sender(self.settings)
            self.runtime.closers.append(self._sender.aclose)
        return self._sender

    def next_delay(self, number: int, result: SendResult) -> float | None:
        """Seconds before the next try, None when this was the last."""
        schedule = self.settings.notification_retry_schedule_s
        if result.permanent or number > len(schedule):
            return None
        if result.retry_after_s is not None:
            return result.retry_after_s  # the receiver said when (Discord's 429)
        spread = self.settings.notification_retry_jitter
        return float(schedule[number - 1] * random.uniform(1 - spread, 1 + spread))  # noqa: S311

    @activity.defn(name="notifications.attempt")
    async def attempt(self, attempt: AttemptInput) -> AttemptOutcome:
        async with self.db.read() as session:
            delivery = await store.find_delivery(session, delivery_id=attempt.delivery_id)
            channel = (
                await store.find_channel(session, channel_id=delivery.channel_id)
                if delivery is not None
                else None
            )
        if delivery is None or channel is None:
            return AttemptOutcome(done=True)  # deleted with its channel
        if delivery.status == DeliveryStatus.DELIVERED:
            return AttemptOutcome(done=True)  # a re-run after the worker died
        now = utcnow()
        started = time.monotonic()
        delay: float | None = None
        if not channel.enabled or channel.disabled_at is not None:
            result = SendResult(ok=False, error="the channel is disabled", permanent=True)
            status = DeliveryStatus.SKIPPED
        else:
            try:
                secrets = Vault.of(self.settings).open(channel.secret)
            except SecretUnreadable as err:
                result = SendResult(ok=False, error=str(err), permanent=True)
            else:
                result = await self.sender().send(
                    kind=channel.kind,
                    config=channel.config,
                    secrets=secrets,
                    msg_id=delivery.id,
                    body=delivery.payload,
                    now=now,
                )
            delay = None if result.ok else self.next_delay(attempt.number, result)
            status = (
                DeliveryStatus.DELIVERED
                if result.ok
                else DeliveryStatus.PENDING
                if delay is not None
                else DeliveryStatus.FAILED
            )
        duration_ms = int((time.monotonic() - started) * 1000)
        finished = utcnow()

        async def work(session: AsyncSession) -> bool:
            row = await store.find_delivery(session, delivery_id=attempt.delivery_id)
            if row is None:
                return False
            await store.record_attempt(
                session,
                delivery=row,
                now=finished,
                status=status,
                status_code=result.status_code,
                response=result.response,
                error=result.error,
                duration_ms=duration_ms,
                next_retry_at=finished + timedelta(seconds=delay) if delay is not None else None,
            )
            if status is DeliveryStatus.SKIPPED:
                return False
            if result.ok:
                await store.channel_succeeded(session, channel_id=row.channel_id)
                return False
            return await store.channel_failed(
                session,
                channel_id=row.channel_id,
                now=finished,
                disable_after_s=self.settings.notification_disable_after_s,
            )

        if await self.db.transact(work):
            logger.warning(
                "notification channel disabled after failing too long",
                extra={"channel_id": channel.id, "organization_id": channel.organization_id},
            )
        return AttemptOutcome(done=delay is None, retry_in_s=delay)
