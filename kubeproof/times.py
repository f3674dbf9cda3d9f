"""The one reading and writing of timestamps: the API's RFC 3339 form, in UTC."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .errors import KubeproofError


def parse_time(value: str | None) -> datetime | None:
    """An API timestamp (RFC 3339, `Z`, optionally with fractional seconds as MicroTime has), in
    UTC; None for no value. A time without a zone is taken as UTC."""
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def stamp(moment: datetime | None, timespec: str = "seconds") -> str | None:
    """The API's form of moment (`2024-05-01T10:00:00Z`), None for none; timespec="auto" keeps a
    fraction of a second where there is one (a dmesg line's time, boot plus its seconds)."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat(timespec=timespec).replace("+00:00", "Z")


def parse_as_of(text: str) -> datetime:
    """--as-of: a date (midnight UTC) or an ISO 8601 time; without a zone, UTC."""
    try:
        moment = parse_time(text)
    except (ValueError, OverflowError):
        moment = None
    if moment is None:
        raise KubeproofError(f"--as-of {text!r}: not a date (2027-03-31 or 2027-03-31T12:00:00Z)")
    return moment


def span(delta: timedelta) -> str:
    """A duration as a person reads it: `3 days`, `5 h`, `12 min`."""
    seconds = abs(delta.total_seconds())
    if seconds >= 2 * 86400:
        return f"{int(seconds // 86400)} days"
    if seconds >= 2 * 3600:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 60)} min"
