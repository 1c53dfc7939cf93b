"""The jobs list's operator filters and sort (issue 18): a range of creation times,
priorities, owners, the order (?sort=) and ?count=true, read once as one dependency so
GET /api/jobs keeps its own parameters and these stay together."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import Query

from jobdeck.api.deps import CurrentUser
from jobdeck.domain import JobFilter
from jobdeck.errors import InvalidInput

Sort = Literal["-created", "created", "-duration", "duration", "-status", "status"]
PRIORITIES = range(1, 6)


def _aware(value: datetime | None) -> datetime | None:
    """A time without a zone is read as UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _priorities(values: list[str] | None) -> list[int]:
    out: list[int] = []
    for raw in values or []:
        for part in raw.split(","):
            text = part.strip()
            if not text:
                continue
            if not text.isdigit() or int(text) not in PRIORITIES:
                raise InvalidInput(f"priority {text!r} is not one of 1, 2, 3, 4, 5 (1 runs first)")
            out.append(int(text))
    return sorted(set(out))


class ListingParams:
    """?created_after= &created_before= &priority= &owner= &sort= &count= of GET /api/jobs."""

    def __init__(
        self,
        principal: CurrentUser,
        created_after: Annotated[
            datetime | None,
            Query(description="Only jobs created at or after this ISO time (no zone: UTC)"),
        ] = None,
        created_before: Annotated[
            datetime | None,
            Query(description="Only jobs created before this ISO time (no zone: UTC)"),
        ] = None,
        priority: Annotated[
            list[str] | None,
            Query(description="Only these priorities, 1 to 5: ?priority=1&priority=2 or 1,2"),
        ] = None,
        owner: Annotated[
            str | None,
            Query(max_length=36, description="Only the jobs of this user id, or `me`"),
        ] = None,
        sort: Annotated[
            Sort,
            Query(
                description="created, duration (start to finish; unfinished jobs count as "
                "none) or status, ascending; a leading `-` for descending. Ties go by "
                "creation time and id in the same direction, so pages never overlap"
            ),
        ] = "-created",
        count: Annotated[
            bool, Query(description="Also answer `total`: the jobs matching, on every page")
        ] = False,
    ) -> None:
        self.created_after = _aware(created_after)
        self.created_before = _aware(created_before)
        if (
            self.created_after is not None
            and self.created_before is not None
            and self.created_after >= self.created_before
        ):
            raise InvalidInput("created_after must be earlier than created_before")
        self.priorities = _priorities(priority)
        self.owner = principal.user_id if owner == "me" else owner
        self.sort: str = sort
        self.count = count

    def narrow(self, flt: JobFilter) -> JobFilter:
        return replace(
            flt,
            priorities=self.priorities,
            user_ids=[self.owner] if self.owner else [],
            created_after=self.created_after,
            created_before=self.created_before,
        )
