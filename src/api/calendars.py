"""A student's schedule as an iCalendar file (RFC 5545), which calendar apps import.

Each meeting of each course is one weekly recurring event, from the first of its days
on or after the term's start to the term's last day. Times are the school's local
times as courses state them ("floating" in RFC 5545 terms): a calendar shows them as
they are, in the time zone it is in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from icalendar import Calendar, Event

#: RFC 5545's weekday codes are ours (MO ... SU), in Python's weekday() order.
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
PRODUCT_ID = "-//Registrar API//Student schedule//EN"
CONTENT_TYPE = "text/calendar"


def schedule_calendar(student_id: int, schedule: Mapping[str, Any]) -> bytes:
    """The schedule (``{"term", "courses"}``) as an iCalendar file."""
    term = schedule["term"]
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"{term['name']} schedule")
    stamp = datetime.now(UTC)
    for course in schedule["courses"]:
        for number, meeting in enumerate(course["meetings"], start=1):
            first = _first_day(term["starts_on"], meeting["days"])
            if first > term["ends_on"]:
                continue  # a term shorter than a week, without any of these days
            event = Event()
            # Stable across downloads, so a re-import updates the event in place.
            event.add("uid", f"student-{student_id}-course-{course['id']}-meeting-{number}")
            event.add("dtstamp", stamp)
            event.add("summary", f"{course['code']} {course['title']}")
            event.add("dtstart", datetime.combine(first, _clock(meeting["starts_at"])))
            event.add("dtend", datetime.combine(first, _clock(meeting["ends_at"])))
            event.add(
                "rrule",
                {
                    "freq": "weekly",
                    "byday": meeting["days"],
                    # Floating like DTSTART, as RFC 5545 requires; the term's last day included.
                    "until": datetime.combine(term["ends_on"], time(23, 59, 59)),
                },
            )
            if meeting.get("room"):
                event.add("location", meeting["room"])
            calendar.add_component(event)
    return calendar.to_ical()


def _first_day(start: date, days: list[str]) -> date:
    """The first day on or after ``start`` that falls on one of ``days``."""
    wanted = {WEEKDAYS.index(day) for day in days}
    return next(
        start + timedelta(days=n)
        for n in range(7)
        if (start + timedelta(days=n)).weekday() in wanted
    )


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))
