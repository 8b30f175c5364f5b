"""``/events``: the change feed of every enrollment change, in commit order."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from src.api.framework import Blueprint
from src.auth.access import reader
from src.schemas import FeedQuerySchema, FeedSchema
from src.services import events
from src.services.events import Cursor

blp = Blueprint(
    "events",
    __name__,
    description="The enrollment change feed: every committed change, exactly once, in order.",
)


@blp.route("/events")
class Events(MethodView):
    """The change feed."""

    @blp.doc(operationId="listEvents")
    @blp.allow(reader)
    @blp.arguments(FeedQuerySchema, location="query")
    @blp.response(200, FeedSchema)
    @blp.problem(410, "cursor-expired")
    def get(self, args: dict[str, Any]) -> Any:
        """Read the change feed.

        The events committed after the cursor `after` (from the beginning without it), and the
        cursor to pass next time. Following the cursor, a client sees every committed event
        exactly once, each enrollment's events in the order they happened; an empty page still
        returns a cursor. A cursor the service did not hand out is `422`; one the feed was
        pruned past is `410 cursor-expired` (resync from the lists, or read the feed again from
        the start). Admins and readers."""
        rows, cursor = events.read_feed(args.get("after", Cursor()), args["limit"])
        return {"events": [events.as_event(row) for row in rows], "cursor": cursor.encode()}
