"""The committed openapi.json is the document the service serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

COMMITTED = Path(__file__).resolve().parents[2] / "openapi.json"


def test_committed_openapi_json_is_current(client):
    served = client.get("/openapi.json").get_json()

    committed = json.loads(COMMITTED.read_text())

    assert committed == served, (
        "openapi.json is stale: run `make openapi` (flask --app wsgi openapi write openapi.json)"
    )


def test_openapi_write_command_produces_the_served_document(app, client, tmp_path):
    target = tmp_path / "openapi.json"

    result = app.test_cli_runner().invoke(args=["openapi", "write", str(target)])

    assert result.exit_code == 0, result.output
    assert json.loads(target.read_text()) == client.get("/openapi.json").get_json()


def test_every_operation_documents_its_statuses(client):
    spec = client.get("/openapi.json").get_json()

    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            statuses = set(operation["responses"])
            if path.startswith("/health"):
                continue
            if path == "/oauth/token":
                _documents_rfc_6749(operation)
                continue
            assert {"401", "403", "429", "default"} <= statuses, (method, path)
            if "{" in path:
                assert "404" in statuses, (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "415", "422"} <= statuses, (method, path)
                body = operation["requestBody"]["content"]["application/json"]["schema"]
                name = body["$ref"].rsplit("/", 1)[1]
                assert spec["components"]["schemas"][name]["additionalProperties"] is False
            for status, response in operation["responses"].items():
                if "$ref" in response:
                    response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
                if status.startswith(("4", "5")) or status == "default":
                    assert list(response["content"]) == ["application/problem+json"], (
                        method,
                        path,
                        status,
                    )


def _documents_rfc_6749(operation):
    # The token endpoint speaks OAuth 2.0 (RFC 6749): a form in, its JSON errors out.
    statuses = set(operation["responses"])
    assert {"200", "400", "401", "429", "default"} <= statuses
    assert list(operation["requestBody"]["content"]) == ["application/x-www-form-urlencoded"]
    for status in ("400", "401"):
        assert list(operation["responses"][status]["content"]) == ["application/json"]
    assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]


def test_creations_link_to_what_they_create(client):
    spec = client.get("/openapi.json").get_json()
    paths = spec["paths"]

    student_links = paths["/students"]["post"]["responses"]["201"]["links"]
    course_links = paths["/courses"]["post"]["responses"]["201"]["links"]

    assert student_links["GetStudent"]["parameters"] == {"student_id": "$response.body#/id"}
    assert "ListStudentCourses" in student_links
    assert course_links["EnrollInCourse"]["requestBody"] == {"course_id": "$response.body#/id"}
    assert "GetRoster" in course_links
    operation_ids = {
        operation["operationId"]
        for operations in paths.values()
        for method, operation in operations.items()
        if method in METHODS
    }
    for response in (*student_links.values(), *course_links.values()):
        assert "operationRef" not in response
        assert response["operationId"] in operation_ids


METHODS = {"get", "put", "post", "patch", "delete"}
#: Verb-first camelCase: what generated clients name their functions after.
OPERATION_ID = re.compile(
    r"^(list|get|create|update|delete|enroll|unenroll|ensure|assign|unassign|check|place|release|set)"
    r"[A-Z][A-Za-z]+$"
)


def test_every_operation_has_a_unique_verb_first_id_a_summary_and_a_description(client):
    spec = client.get("/openapi.json").get_json()

    seen: dict[str, str] = {}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            where = f"{method.upper()} {path}"
            operation_id = operation.get("operationId")
            assert operation_id, f"{where} has no operationId: add @blp.doc(operationId=...)"
            assert OPERATION_ID.match(operation_id), (where, operation_id)
            assert operation_id not in seen, (where, seen.get(operation_id))
            seen[operation_id] = where
            assert operation.get("summary"), where
            assert operation.get("description"), where


def test_the_ids_clients_are_built_on_stay_as_they_are(client):
    # Changing one of these breaks every generated client: add, never rename.
    spec = client.get("/openapi.json").get_json()
    ids = {
        f"{method.upper()} {path}": operation["operationId"]
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if method in METHODS
    }

    assert ids["POST /students/{student_id}/courses"] == "enrollStudent"
    assert ids["DELETE /students/{student_id}/courses/{course_id}"] == "unenrollStudent"
    assert ids["GET /courses/{course_id}/students"] == "getRoster"
    assert ids["GET /students"] == "listStudents"
    assert ids["GET /events"] == "listEvents"


def test_the_document_describes_itself(client):
    spec = client.get("/openapi.json").get_json()

    assert spec["info"]["description"]
    assert spec["info"]["contact"]["email"]
    assert spec["info"]["license"]["name"]
    # One server, relative: the API it describes, in whichever environment serves it.
    [server] = spec["servers"]
    assert server["url"] == "/"
    assert server["x-internal"] is False
    assert "production" in server["description"]
    assert all(tag.get("description") for tag in spec["tags"])
    assert "PaginationMetadata" not in spec["components"]["schemas"]
