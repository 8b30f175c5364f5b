"""The benchmark's floor and peers answer exactly as the service does, or the ratios
mean nothing."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from werkzeug.test import Client

from bench import floor


class Side:
    """One side of the benchmark, called in process: (status, JSON, headers)."""

    def __init__(self, client: Any, wsgi: bool) -> None:
        self.client = client
        self.wsgi = wsgi

    def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, Any, Any]:
        response = (
            self.client.open(path, method=method, json=body)
            if self.wsgi
            else (self.client.request(method, path, json=body))
        )
        data = response.get_data() if self.wsgi else response.content
        json = (response.get_json() if self.wsgi else response.json()) if data else None
        return response.status_code, json, response.headers


@pytest.fixture(params=["floor", "peer_flask", "peer_fastapi"])
def side(request, database_url, monkeypatch):
    url = database_url.replace("+psycopg2", "")
    monkeypatch.setenv("FLOOR_DATABASE_URL", url)
    if request.param == "floor":
        monkeypatch.setattr(floor, "_connection", None)
        yield Side(Client(floor.app), wsgi=True)
        if floor._connection is not None:
            floor._connection.close()
        return
    module = importlib.import_module(f"bench.{request.param}")
    if request.param == "peer_flask":
        yield Side(Client(module.app), wsgi=True)
        with module.app.app_context():
            module.db.engine.dispose()
        return
    from fastapi.testclient import TestClient

    with TestClient(module.app) as client:
        yield Side(client, wsgi=False)
    module.engine.dispose()


@pytest.mark.postgresql
def test_each_side_answers_like_the_service(client, make_student, make_course, side):
    student = make_student()
    courses = [make_course(capacity=5), make_course()]
    for course in courses:
        client.post(f"/students/{student['id']}/courses", json={"course_id": course["id"]})
    spare, full = make_course(), make_course(capacity=1)
    other = make_student()
    client.post(f"/students/{other['id']}/courses", json={"course_id": full["id"]})

    for path in (
        f"/students/{student['id']}/courses",
        f"/students/{student['id']}/courses?limit=1&offset=1",
        "/courses",
        "/courses?limit=2&offset=1",
        "/students/999999/courses",
    ):
        ours = client.get(path)
        status, body, headers = side("GET", path)
        assert (status, body) == (ours.status_code, ours.get_json()), path
        if status == 200:
            assert headers["X-Total-Count"] == ours.headers["X-Total-Count"]
            assert headers["Content-Type"] == "application/json"

    enroll = f"/students/{student['id']}/courses"
    status, body, headers = side("POST", enroll, {"course_id": spare["id"]})
    assert status == 201
    assert body == client.get(f"{enroll}/{spare['id']}").get_json()
    assert headers["Location"] == f"{enroll}/{spare['id']}"
    for payload, expected in (
        ({"course_id": spare["id"]}, (409, "already-enrolled")),
        ({"course_id": full["id"]}, (409, "course-full")),
        ({"course_id": 999999}, (404, "course-not-found")),
        ({"course_id": "1"}, (422, "validation-error")),
    ):
        status, body, headers = side("POST", enroll, payload)
        assert (status, body["type"]) == (expected[0], f"/problems/{expected[1]}"), payload
        assert headers["Content-Type"] == "application/problem+json"
    status, body, _ = side("POST", "/students/999999/courses", {"course_id": spare["id"]})
    assert (status, body["type"]) == (404, "/problems/student-not-found")

    assert side("DELETE", f"{enroll}/{spare['id']}")[0] == 204
    assert side("DELETE", f"{enroll}/{spare['id']}")[0] == 404
    history = client.get(f"{enroll}/{spare['id']}/history").get_json()
    assert [event["type"] for event in history] == ["enrolled", "dropped"]


@pytest.mark.postgresql
def test_the_floor_filters_one_terms_courses_with_seats_like_the_service(
    client, make_student, make_course, database_url, monkeypatch
):
    monkeypatch.setenv("FLOOR_DATABASE_URL", database_url.replace("+psycopg2", ""))
    monkeypatch.setattr(floor, "_connection", None)
    term = client.post(
        "/terms",
        json={"code": "T", "name": "T", "starts_on": "2027-01-11", "ends_on": "2027-05-07"},
    ).get_json()
    full = make_course(capacity=1, term_id=term["id"])
    make_course(capacity=2, term_id=term["id"]), make_course(term_id=term["id"]), make_course()
    client.post(f"/students/{make_student()['id']}/courses", json={"course_id": full["id"]})
    side = Side(Client(floor.app), wsgi=True)

    for path in (
        f"/courses?term_id={term['id']}&has_seats=true",
        "/courses?term_id=999&has_seats=true",
    ):
        ours = client.get(path)
        status, body, headers = side("GET", path)
        assert (status, body) == (ours.status_code, ours.get_json()), path
        assert headers["X-Total-Count"] == ours.headers["X-Total-Count"]
    assert ours.headers["X-Total-Count"] == "0"
    floor._connection.close()


@pytest.mark.postgresql
def test_the_floor_refuses_by_the_registration_rules_like_the_service(
    client, make_student, database_url, monkeypatch
):
    monkeypatch.setenv("FLOOR_DATABASE_URL", database_url.replace("+psycopg2", ""))
    monkeypatch.setattr(floor, "_connection", None)
    term = client.post(
        "/terms",
        json={"code": "T", "name": "T", "starts_on": "2027-01-11", "ends_on": "2027-05-07",
              "max_credits": 4},
    ).get_json()  # fmt: skip
    meets = {"days": ["MO", "WE"], "starts_at": "09:00", "ends_at": "10:00"}
    taken = client.post(
        "/courses",
        json={"code": "A1", "title": "A", "term_id": term["id"], "meetings": [meets]},
    ).get_json()
    wanted = client.post(
        "/courses",
        json={"code": "B1", "title": "B", "term_id": term["id"], "capacity": 1,
              "meetings": [{**meets, "days": ["WE"]}], "prerequisites": ["Z1"],
              "corequisites": ["Y1"]},
    ).get_json()  # fmt: skip
    student, other = make_student(), make_student()
    client.post(f"/students/{student['id']}/courses", json={"course_id": taken["id"]})
    client.post(
        f"/students/{student['id']}/holds",
        json={"kind": "financial", "reason": "Fees", "blocks": ["registration"]},
    )
    side = Side(Client(floor.app), wsgi=True)
    path = f"/students/{student['id']}/courses"

    ours = client.post(path, json={"course_id": wanted["id"]})
    status, body, _ = side("POST", path, {"course_id": wanted["id"]})
    assert (status, body) == (409, ours.get_json())
    assert len(body["errors"]) == 5

    # Full, and nothing else: the seat taken with every rule overridden.
    overrides = ["prerequisite-missing", "corequisite-missing"]
    client.post(
        f"/students/{other['id']}/courses",
        json={"course_id": wanted["id"], "override": overrides, "reason": "Exchange"},
    )
    newcomer = make_student()
    path = f"/students/{newcomer['id']}/courses"
    client.patch(f"/courses/{wanted['id']}", json={"prerequisites": [], "corequisites": []})
    ours = client.post(path, json={"course_id": wanted["id"]})
    status, body, _ = side("POST", path, {"course_id": wanted["id"]})
    assert (status, body) == (409, ours.get_json())
    assert body["type"] == "/problems/course-full"
    floor._connection.close()
