"""``/enrollments/batch``: a term's enrollments in one request, all or nothing."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from src.api.framework import Blueprint
from src.schemas import BatchRequestSchema, BatchResponseSchema
from src.services import batches

blp = Blueprint("enrollments", __name__, description="Enrollments in bulk.")


@blp.route("/enrollments/batch")
class EnrollmentBatch(MethodView):
    """Many enrollments at once."""

    @blp.doc(operationId="enrollBatch")
    @blp.admins_only
    @blp.arguments(BatchRequestSchema)
    @blp.response(200, BatchResponseSchema)
    @blp.itemized("enrollments", 404, 409)
    def post(self, data: dict[str, Any]) -> Any:
        """Enroll many pairs at once.

        1 to 1,000 distinct pairs, all or nothing; pairs already enrolled change nothing
        (`created: false`). Any failing pair fails the batch and writes nothing: the problem
        lists every failing pair by index, `404` for an unknown student or course before `409`
        for a course without room for all its new pairs. Admins only."""
        pairs = [(item["student_id"], item["course_id"]) for item in data["enrollments"]]
        return {"enrollments": batches.enroll_batch(pairs)}
