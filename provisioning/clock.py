"""HR dates and UTC moments: which day it is in the region, and when a day starts.

HR feeds speak in dates (an employment starts on 2026-12-01 and ends on 2027-03-31, both days included); the
grant register speaks in UTC moments. The region is Norwegian, so days are Europe/Oslo days: an employment
ending on 31 March is in effect until midnight Oslo time, and "as of 2026-12-01" means 00:00 Oslo time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["HR_ZONE", "end_of_day", "hr_date", "start_of_day"]

HR_ZONE = ZoneInfo("Europe/Oslo")


def hr_date(at: datetime) -> date:
    """The Oslo calendar date of the moment ``at`` (which must be time-zone aware)."""
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at.isoformat()} refused: pass a UTC-aware time")
    return at.astimezone(HR_ZONE).date()


def start_of_day(day: date) -> datetime:
    """00:00 Oslo time on ``day``, as a UTC moment."""
    return datetime.combine(day, time(0), HR_ZONE).astimezone(UTC)


def end_of_day(day: date) -> datetime:
    """The first moment after ``day`` (00:00 Oslo time the next day), as a UTC moment."""
    return start_of_day(day + timedelta(days=1))
