"""``/health``: is the process up."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields

from src.api import Blueprint

blp = Blueprint("health", __name__, description="Service health.")


class HealthSchema(Schema):
    """draft-inadarei-api-health-check status."""

    status = fields.String(required=True, metadata={"enum": ["pass", "warn", "fail"]})


@blp.route("/health")
class Health(MethodView):
    """Liveness."""

    @blp.response(200, HealthSchema)
    def get(self) -> Any:
        """Answer 200 while the process serves requests; touches no database."""
        return {"status": "pass"}
