"""The /terms resource, and the default term."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from src.database import db
from src.models import DefaultTerm, Term
from tests.conftest import assert_problem

SPRING = {
    "code": "2027-SP",
    "name": "Spring 2027",
    "starts_on": "2027-01-11",
    "ends_on": "2027-05-07",
}
TERM_FIELDS = [
    "id", "code", "name", "starts_on", "ends_on", "registration_opens_at", "add_deadline",
    "drop_deadline", "withdraw_deadline", "max_credits", "is_default", "created_at",
    "updated_at",
]  # fmt: skip


def term_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Term))


def default_term_id() -> int:
    return db.session.scalar(select(DefaultTerm.term_id))


def test_the_default_term_is_there_from_the_start(client):
    response = client.get("/terms")

    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == "1"
    [term] = response.get_json()
    assert list(term) == TERM_FIELDS
    assert (term["code"], term["name"], term["is_default"]) == ("DEFAULT", "Default term", True)
    assert term["id"] == default_term_id()


def test_create_a_term_with_every_field(client):
    body = {
        **SPRING,
        "registration_opens_at": "2026-11-02T09:00:00+01:00",
        "add_deadline": "2027-01-22T23:59:00Z",
        "drop_deadline": "2027-01-22T23:59:00Z",
        "withdraw_deadline": "2027-04-02T17:00:00-05:00",
        "max_credits": 18,
    }

    response = client.post("/terms", json=body)

    assert response.status_code == 201, response.get_json()
    term = response.get_json()
    assert list(term) == TERM_FIELDS
    assert response.headers["Location"].endswith(f"/terms/{term['id']}")
    assert term["registration_opens_at"] == "2026-11-02T08:00:00.000+00:00"
    assert term["withdraw_deadline"] == "2027-04-02T22:00:00.000+00:00"
    assert (term["starts_on"], term["ends_on"], term["max_credits"]) == (
        "2027-01-11",
        "2027-05-07",
        18,
    )
    assert term["is_default"] is False
    assert client.get(f"/terms/{term['id']}").get_json() == term


def test_any_offset_is_taken_and_stored_in_utc(client):
    body = {**SPRING, "registration_opens_at": "2026-11-02T03:28:00-22:09"}

    response = client.post("/terms", json=body)

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["registration_opens_at"] == "2026-11-03T01:37:00.000+00:00"


def test_a_term_without_registration_dates_has_no_bounds(client):
    term = client.post("/terms", json=SPRING).get_json()

    assert [term[name] for name in TERM_FIELDS[5:10]] == [None] * 5


@pytest.mark.parametrize("code", ["2027-SP", "2027-sp"])
def test_a_term_code_is_unique_in_any_case(client, code):
    client.post("/terms", json=SPRING)

    response = client.post("/terms", json={**SPRING, "code": code})

    assert_problem(response, 409, "term-code-taken")
    assert term_count() == 2


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"code": "2027 SP"}, "code"),
        ({"code": "X" * 21}, "code"),
        ({"name": ""}, "name"),
        ({"name": "n" * 101}, "name"),
        ({"starts_on": "2027-13-01"}, "starts_on"),
        ({"starts_on": "2027-01-11T00:00:00Z"}, "starts_on"),
        ({"ends_on": None}, "ends_on"),
        ({"ends_on": "2027-01-10"}, "ends_on"),
        ({"registration_opens_at": "2026-11-02T09:00:00"}, "registration_opens_at"),
        ({"registration_opens_at": "0001-01-01T00:00:00+05:00"}, "registration_opens_at"),
        ({"max_credits": 101}, "max_credits"),
        ({"max_credits": "18"}, "max_credits"),
        ({"is_default": True}, "is_default"),
        (
            {"add_deadline": "2027-01-22T00:00:00Z", "drop_deadline": "2027-01-21T00:00:00Z"},
            "drop_deadline",
        ),
        (
            # A null bound in between is skipped: withdraw must still follow add.
            {"add_deadline": "2027-01-22T00:00:00Z", "withdraw_deadline": "2027-01-01T00:00:00Z"},
            "withdraw_deadline",
        ),
    ],
)
def test_invalid_terms_are_422_naming_the_field(client, changes, field):
    response = client.post("/terms", json={**SPRING, **changes})

    body = assert_problem(response, 422, "validation-error")
    assert field in body["errors"], body
    assert term_count() == 1


def test_terms_are_listed_by_start(client):
    later = client.post(
        "/terms", json={**SPRING, "code": "B", "starts_on": "2027-08-30", "ends_on": "2027-12-17"}
    ).get_json()
    earlier = client.post("/terms", json={**SPRING, "code": "A"}).get_json()
    same_day = client.post("/terms", json={**SPRING, "code": "C"}).get_json()

    body = client.get("/terms").get_json()

    assert [t["id"] for t in body[1:]] == [earlier["id"], same_day["id"], later["id"]]


def test_patch_checks_the_dates_as_they_will_be(client):
    term = client.post("/terms", json=SPRING).get_json()

    response = client.patch(f"/terms/{term['id']}", json={"ends_on": "2027-01-01"})

    assert "ends_on" in assert_problem(response, 422, "validation-error")["errors"]
    assert client.get(f"/terms/{term['id']}").get_json()["ends_on"] == "2027-05-07"


def test_patch_changes_fields(client):
    term = client.post("/terms", json=SPRING).get_json()

    response = client.patch(f"/terms/{term['id']}", json={"name": "Spring", "max_credits": 12})

    assert response.status_code == 200
    assert (response.get_json()["name"], response.get_json()["max_credits"]) == ("Spring", 12)


def test_patch_is_default_moves_the_mark(client):
    old = default_term_id()
    term = client.post("/terms", json=SPRING).get_json()

    response = client.patch(f"/terms/{term['id']}", json={"is_default": True})

    assert response.status_code == 200
    assert response.get_json()["is_default"] is True
    assert default_term_id() == term["id"]
    assert client.get(f"/terms/{old}").get_json()["is_default"] is False
    assert db.session.scalar(select(func.count()).select_from(DefaultTerm)) == 1
    # Courses created without a term now join it.
    course = client.post("/courses", json={"code": "CS1", "title": "T"}).get_json()
    assert course["term_id"] == term["id"]


def test_is_default_false_is_422(client):
    response = client.patch(f"/terms/{default_term_id()}", json={"is_default": False})

    assert "is_default" in assert_problem(response, 422, "validation-error")["errors"]


def test_patch_with_a_stale_etag_is_412(client):
    term = client.post("/terms", json=SPRING).get_json()
    etag = client.get(f"/terms/{term['id']}").headers["ETag"]
    client.patch(f"/terms/{term['id']}", json={"name": "Changed"})

    response = client.patch(
        f"/terms/{term['id']}", json={"name": "Again"}, headers={"If-Match": etag}
    )

    assert_problem(response, 412, "precondition-failed")
    assert client.get(f"/terms/{term['id']}").get_json()["name"] == "Changed"


def test_patch_to_a_taken_code_is_409(client):
    client.post("/terms", json=SPRING)
    other = client.post("/terms", json={**SPRING, "code": "OTHER"}).get_json()

    response = client.patch(f"/terms/{other['id']}", json={"code": "2027-sp"})

    assert_problem(response, 409, "term-code-taken")


def test_delete_a_term(client):
    term = client.post("/terms", json=SPRING).get_json()

    assert client.delete(f"/terms/{term['id']}").status_code == 204
    assert_problem(client.get(f"/terms/{term['id']}"), 404, "term-not-found")
    assert_problem(client.delete(f"/terms/{term['id']}"), 404, "term-not-found")


def test_the_default_term_cannot_be_deleted(client):
    assert_problem(client.delete(f"/terms/{default_term_id()}"), 409, "term-is-default")
    assert term_count() == 1


def test_a_term_with_courses_cannot_be_deleted(client):
    term = client.post("/terms", json=SPRING).get_json()
    client.post("/courses", json={"code": "CS1", "title": "T", "term_id": term["id"]})

    assert_problem(client.delete(f"/terms/{term['id']}"), 409, "term-has-courses")
    assert term_count() == 2
