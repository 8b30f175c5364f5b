"""The committed openapi.json is the document the service serves."""

from __future__ import annotations

import json
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


def test_creations_link_to_what_they_create(client):
    spec = client.get("/openapi.json").get_json()
    paths = spec["paths"]

    student_links = paths["/students"]["post"]["responses"]["201"]["links"]
    course_links = paths["/courses"]["post"]["responses"]["201"]["links"]

    assert student_links["GetStudent"]["parameters"] == {"student_id": "$response.body#/id"}
    assert "ListStudentCourses" in student_links
    assert course_links["EnrollInCourse"]["requestBody"] == {"course_id": "$response.body#/id"}
    assert "GetRoster" in course_links
    for response in (*student_links.values(), *course_links.values()):
        pointer = response["operationRef"].removeprefix("#/paths/")
        path, method = pointer.rsplit("/", 1)
        assert method in paths[path.replace("~1", "/").replace("~0", "~")]
