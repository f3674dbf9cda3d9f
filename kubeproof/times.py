"""The one reading and writing of timestamps: the API's RFC 3339 form, in UTC."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # the API's own timestamp format


def parse_time(value: str | None) -> datetime | None:
    """An API timestamp (RFC 3339, `Z`, optionally with fractional seconds as MicroTime has), in
    UTC; None for no value. A time without a zone is taken as UTC."""
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime(TIME_FORMAT)


def span(delta: timedelta) -> str:
    """A duration as a person reads it: `3 days`, `5 h`, `12 min`."""
    seconds = abs(delta.total_seconds())
    if seconds >= 2 * 86400:
        return f"{int(seconds // 86400)} days"
    if seconds >= 2 * 3600:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 60)} min"
