"""Cron expressions as schedules accept them: five fields (minute hour day-of-month month
day-of-week) or one of the @-macros, checked, read out in words, and previewed.

Temporal decides when a schedule fires; the preview here is for a form that has no
schedule yet. On daylight-saving change days a run fires exactly once: a time the change
repeats (02:30 on the autumn day in Europe/Berlin) at its second occurrence (Temporal's
choice: 02:30 CET), and a time the change skips (02:30 on the spring day), which Temporal
would drop, at the first minute after the jump (03:00 CEST) through an extra calendar
entry per change day (`spring_gap_runs`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cron_descriptor import ExpressionDescriptor, FormatException, Options
from cronsim import CronSim, CronSimError

from jobdeck.errors import InvalidInput

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MAX_CRON_LENGTH = 200


def check_cron(expression: str) -> str:
    """The expression, normalised (a macro expanded, spaces collapsed); InvalidInput saying
    what is wrong otherwise."""
    text = " ".join(expression.split())
    if not text:
        raise InvalidInput("cron: empty; give five fields, e.g. '30 2 * * *' (02:30 daily)")
    if len(text) > MAX_CRON_LENGTH:
        raise InvalidInput(f"cron: longer than {MAX_CRON_LENGTH} characters")
    if text.startswith("@"):
        if text.lower() not in MACROS:
            raise InvalidInput(f"cron: unknown macro {text!r}; one of: {', '.join(MACROS)}")
        return MACROS[text.lower()]
    fields = text.split(" ")
    if len(fields) != 5:
        raise InvalidInput(
            f"cron: {len(fields)} fields in {text!r}; give five: minute hour day-of-month "
            "month day-of-week, e.g. '30 2 * * *'"
        )
    try:
        CronSim(text, datetime(2000, 1, 1))  # noqa: DTZ001 (a parse; the zone is moot)
    except CronSimError as err:
        reason = str(err)
        raise InvalidInput(f"cron: {reason[:1].lower()}{reason[1:]} in {text!r}") from None
    return text


def check_timezone(name: str) -> ZoneInfo:
    """An IANA zone, e.g. Europe/Berlin; InvalidInput for anything else."""
    if name not in _zones():
        raise InvalidInput(
            f"timezone: unknown zone {name!r}; give an IANA name such as 'UTC' or 'Europe/Berlin'"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"timezone: unknown zone {name!r}") from None


_ZONES: frozenset[str] = frozenset()


def _zones() -> frozenset[str]:
    global _ZONES
    if not _ZONES:
        _ZONES = frozenset(available_timezones()) | {"UTC"}
    return _ZONES


def describe_cron(expression: str) -> str:
    """The expression in words, e.g. 'At 02:30' or 'Every 15 minutes, Monday through
    Friday'."""
    options = Options()
    options.use_24hour_time_format = True
    options.verbose = False
    try:
        return str(ExpressionDescriptor(check_cron(expression), options).get_description())
    except FormatException as err:  # cronsim accepted what the describer cannot read
        return f"cron {expression!r} ({err})"


def next_times(expression: str, zone: ZoneInfo, after: datetime, count: int = 5) -> list[datetime]:
    """The next `count` times the expression fires after `after`, in `zone`, as Temporal
    fires them on change days (see the module's doc)."""
    times = CronSim(check_cron(expression), after.astimezone(zone))
    found: list[datetime] = []
    for time in times:
        if time.replace(fold=1).utcoffset() != time.replace(fold=0).utcoffset():
            time = time.replace(fold=1)  # a repeated hour: its second occurrence
        found.append(time)
        if len(found) == count:
            return found
    return found


def spring_gap_runs(
    expression: str, zone: ZoneInfo, start: datetime, years: int = 25
) -> list[datetime]:
    """For each change of `zone` in the `years` after `start` that skips local times in
    which `expression` would match: the local wall time (naive) just after the jump, where
    the skipped run fires instead (once, however many matches the gap held)."""
    expression = check_cron(expression)
    found: list[datetime] = []
    day = timedelta(days=1)
    probe = start.astimezone(UTC).replace(second=0, microsecond=0)
    end = probe + timedelta(days=366 * years)
    while probe < end:
        nxt = probe + day
        before, after = probe.astimezone(zone).utcoffset(), nxt.astimezone(zone).utcoffset()
        if before is not None and after is not None and after > before:
            low, high = probe, nxt  # the change is in (low, high]: find it to the minute
            while high - low > timedelta(minutes=1):
                mid = low + (high - low) / 2
                if mid.astimezone(zone).utcoffset() == before:
                    low = mid
                else:
                    high = mid
            change = high.replace(second=0, microsecond=0)
            gap_start = (change + before).replace(tzinfo=None)
            gap_end = (change + after).replace(tzinfo=None)
            first = next(CronSim(expression, gap_start - timedelta(seconds=1)))
            if first < gap_end:
                found.append(gap_end)
        probe = nxt
    return found
