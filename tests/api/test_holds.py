"""Holds on students (/students/<id>/holds) and their own credit limits
(/students/<id>/credit-limits)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from src.database import db
from src.models import CreditLimit, Hold
from tests.conftest import assert_problem, new_key

FEES = {"kind": "financial", "reason": "Unpaid fees", "blocks": ["registration"]}
HOLD_FIELDS = [
    "id", "kind", "reason", "blocks", "placed_at", "placed_by", "released_at", "released_by",
]  # fmt: skip
SPRING = {"code": "2027-SP", "name": "Spring", "starts_on": "2027-01-11", "ends_on": "2027-05-07"}


@pytest.fixture
def student(make_student):
    return make_student()


def test_placing_a_hold_answers_it_with_who_placed_it(app, client, student):
    response = client.post(f"/students/{student['id']}/holds", json=FEES)

    assert response.status_code == 201, response.get_json()
    hold = response.get_json()
    assert list(hold) == HOLD_FIELDS
    assert (hold["kind"], hold["reason"], hold["blocks"]) == (
        "financial",
        "Unpaid fees",
        ["registration"],
    )
    admin_prefix = app.config["TEST_API_KEY"].split("_")[1]
    assert hold["placed_by"] == {"kind": "api_key", "key_prefix": admin_prefix, "role": "admin"}
    assert (hold["released_at"], hold["released_by"]) == (None, None)
    assert response.headers["Location"] == f"/students/{student['id']}/holds/{hold['id']}"
    assert client.get(response.headers["Location"]).get_json() == hold


def test_holds_are_listed_active_first_and_released_ones_are_kept(app, client, student):
    base = f"/students/{student['id']}/holds"
    first = client.post(base, json=FEES).get_json()
    second = client.post(base, json={**FEES, "kind": "academic", "blocks": ["drop"]}).get_json()
    third = client.post(base, json={**FEES, "blocks": ["drop", "registration"]}).get_json()

    assert client.delete(f"{base}/{second['id']}").status_code == 204

    listed = client.get(base).get_json()
    assert [hold["id"] for hold in listed] == [third["id"], first["id"], second["id"]]
    released = listed[2]
    assert released["released_at"] is not None
    assert released["released_by"]["role"] == "admin"
    assert third["blocks"] == ["registration", "drop"]
    with app.app_context():
        row = db.session.get(Hold, second["id"])
        assert row.released_at is not None
        assert (row.blocks_drop, row.blocks_registration) == (True, False)


def test_releasing_twice_or_an_unknown_hold_is_404(client, student, make_student):
    base = f"/students/{student['id']}/holds"
    hold = client.post(base, json=FEES).get_json()
    assert client.delete(f"{base}/{hold['id']}").status_code == 204

    assert_problem(client.delete(f"{base}/{hold['id']}"), 404, "hold-not-found")
    assert_problem(client.delete(f"{base}/999999"), 404, "hold-not-found")
    other = make_student()
    # Another student's hold is not this student's.
    assert_problem(client.get(f"/students/{other['id']}/holds/{hold['id']}"), 404, "hold-not-found")
    assert_problem(client.get("/students/999999/holds"), 404, "student-not-found")
    assert_problem(client.post("/students/999999/holds", json=FEES), 404, "student-not-found")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "parking"}, "kind"),
        ({"kind": None}, "kind"),
        ({"reason": ""}, "reason"),
        ({"reason": "x" * 501}, "reason"),
        ({"reason": "   "}, "reason"),
        ({"blocks": []}, "blocks"),
        ({"blocks": ["drop", "drop"]}, "blocks"),
        ({"blocks": ["grades"]}, "blocks.0"),
        ({"blocks": "drop"}, "blocks"),
        ({"released_at": "2027-01-01T00:00:00Z"}, "released_at"),
    ],
)
def test_an_invalid_hold_is_422_naming_the_field_and_writes_nothing(
    app, client, student, change, field
):
    response = client.post(f"/students/{student['id']}/holds", json={**FEES, **change})

    problem = assert_problem(response, 422, "validation-error")
    assert field in problem["errors"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Hold)) == 0


def test_only_admins_place_or_release_holds_and_students_read_their_own(app, client, student):
    base = f"/students/{student['id']}/holds"
    hold = client.post(base, json=FEES).get_json()
    own = app.test_client(api_key=new_key(app, "student", student["id"]))

    assert own.get(base).status_code == 200
    assert own.post(base, json=FEES).status_code == 403
    assert own.delete(f"{base}/{hold['id']}").status_code == 403


def test_a_deleted_student_takes_their_holds_and_limits_along(app, client, student):
    term = client.post("/terms", json=SPRING).get_json()
    client.post(f"/students/{student['id']}/holds", json=FEES)
    client.put(f"/students/{student['id']}/credit-limits/{term['id']}", json={"max_credits": 9})

    assert client.delete(f"/students/{student['id']}").status_code == 204

    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Hold)) == 0
        assert db.session.scalar(select(func.count()).select_from(CreditLimit)) == 0


# -- Credit limits --------------------------------------------------------------------


def test_a_credit_limit_is_created_kept_changed_listed_and_removed(app, client, student):
    term = client.post("/terms", json=SPRING).get_json()
    path = f"/students/{student['id']}/credit-limits/{term['id']}"

    created = client.put(path, json={"max_credits": 21})
    kept = client.put(path, json={"max_credits": 21})
    changed = client.put(path, json={"max_credits": 9})

    assert [r.status_code for r in (created, kept, changed)] == [201, 200, 200]
    assert list(created.get_json()) == ["term_id", "max_credits", "created_at", "updated_at"]
    assert (created.get_json()["term_id"], kept.get_json()["max_credits"]) == (term["id"], 21)
    listed = client.get(f"/students/{student['id']}/credit-limits").get_json()
    assert [(limit["term_id"], limit["max_credits"]) for limit in listed] == [(term["id"], 9)]

    assert client.delete(path).status_code == 204
    assert client.get(f"/students/{student['id']}/credit-limits").get_json() == []
    assert_problem(client.delete(path), 404, "credit-limit-not-found")


@pytest.mark.parametrize("value", [-1, 101, 1.5, "12", None, True])
def test_a_credit_limit_out_of_range_is_422(client, student, value):
    term = client.post("/terms", json=SPRING).get_json()

    response = client.put(
        f"/students/{student['id']}/credit-limits/{term['id']}", json={"max_credits": value}
    )

    assert "max_credits" in assert_problem(response, 422, "validation-error")["errors"]


def test_a_credit_limit_needs_the_student_and_the_term(client, student):
    assert_problem(
        client.put(f"/students/{student['id']}/credit-limits/999999", json={"max_credits": 3}),
        404,
        "term-not-found",
    )
    assert_problem(
        client.put("/students/999999/credit-limits/1", json={"max_credits": 3}),
        404,
        "student-not-found",
    )
    assert_problem(client.get("/students/999999/credit-limits"), 404, "student-not-found")
