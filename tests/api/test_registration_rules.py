"""The registration rules, checked at once on every enrollment: the window, holds,
prerequisites, corequisites, time conflicts, credit limits and capacity; overrides,
and the dry run (src/services/rules.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from src.database import db
from src.models import EnrollmentEvent, StudentCourse, WaitlistEntry
from tests.conftest import assert_problem, new_key

PAST = {"code": "2026-FA", "name": "Fall 2026", "starts_on": "2026-08-31", "ends_on": "2026-12-18"}
NEXT = {"code": "2027-SP", "name": "Spring", "starts_on": "2027-01-11", "ends_on": "2027-05-07"}
MWF_9 = {"days": ["MO", "WE", "FR"], "starts_at": "09:00", "ends_at": "09:50"}
MW_930 = {"days": ["MO", "WE"], "starts_at": "09:30", "ends_at": "10:45"}
TU_9 = {"days": ["TU"], "starts_at": "09:00", "ends_at": "09:50"}
MW_950 = {"days": ["MO"], "starts_at": "09:50", "ends_at": "10:40"}


@pytest.fixture
def term(client):
    """The term enrolled in (no dates, no cap unless a test sets them)."""
    return client.post("/terms", json=NEXT).get_json()


@pytest.fixture
def offer(client, term):
    """Create a course in ``term`` (or another) with the given fields."""
    made = iter(range(1, 1000))

    def offer(code: str | None = None, *, in_term: dict | None = None, **fields):
        body = {"code": code or f"C{next(made)}", "title": "Course", **fields}
        response = client.post("/courses", json={**body, "term_id": (in_term or term)["id"]})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return offer


@pytest.fixture
def student(make_student):
    return make_student()


def enroll(client, student, course, **body):
    return client.post(
        f"/students/{student['id']}/courses", json={"course_id": course["id"], **body}
    )


def counts(app) -> tuple[int, int, int]:
    """Enrollments, places in line and events: what a refusal must leave as it was."""
    with app.app_context():
        return tuple(
            db.session.scalar(select(func.count()).select_from(model))
            for model in (StudentCourse, WaitlistEntry, EnrollmentEvent)
        )


def error_types(response) -> list[str]:
    return [error["type"].rsplit("/", 1)[1] for error in response.get_json()["errors"]]


# -- Each rule --------------------------------------------------------------------------


def test_a_student_key_registers_only_inside_the_window_and_an_admin_at_any_time(
    app, client, term, offer, student
):
    course = offer()
    own = app.test_client(api_key=new_key(app, "student", student["id"]))
    soon = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0).isoformat()
    client.patch(f"/terms/{term['id']}", json={"registration_opens_at": soon})

    early = enroll(own, student, course)

    problem = assert_problem(early, 409, "registration-closed")
    assert "opens at" in problem["detail"]
    assert error_types(early) == ["registration-closed"]
    client.patch(
        f"/terms/{term['id']}",
        json={
            "registration_opens_at": "2026-01-01T00:00:00Z",
            "add_deadline": "2026-02-01T00:00:00Z",
        },
    )
    assert_problem(enroll(own, student, course), 409, "registration-closed")
    assert enroll(client, student, course).status_code == 201


def test_an_active_hold_on_registration_refuses_until_it_is_released(client, offer, student):
    course = offer()
    holds = f"/students/{student['id']}/holds"
    client.post(holds, json={"kind": "financial", "reason": "Fees", "blocks": ["drop"]})
    blocking = client.post(
        holds, json={"kind": "financial", "reason": "Fees", "blocks": ["registration"]}
    ).get_json()

    assert_problem(enroll(client, student, course), 409, "hold-active")
    client.delete(f"{holds}/{blocking['id']}")
    assert enroll(client, student, course).status_code == 201


def test_prerequisites_count_courses_of_terms_that_ended_before(client, offer, student):
    past = client.post("/terms", json=PAST).get_json()
    intro_then = offer("CS101", in_term=past)
    offer("MATH1")  # offered in this term too, not taken
    advanced = offer("CS201", prerequisites=["cs101", "MATH1"])
    intro_now = offer("CS101")

    assert enroll(client, student, intro_now).status_code == 201  # same term: no credit
    missing = enroll(client, student, advanced)
    problem = assert_problem(missing, 409, "prerequisite-missing")
    assert problem["errors"][0]["codes"] == ["cs101", "MATH1"]

    assert enroll(client, student, intro_then).status_code == 201
    problem = assert_problem(enroll(client, student, advanced), 409, "prerequisite-missing")
    assert problem["errors"][0]["codes"] == ["MATH1"]
    assert "MATH1" in problem["detail"]


def test_a_dropped_prerequisite_does_not_count(client, offer, student):
    past = client.post("/terms", json=PAST).get_json()
    intro = offer("CS101", in_term=past)
    advanced = offer("CS201", prerequisites=["CS101"])
    enroll(client, student, intro)
    client.delete(f"/students/{student['id']}/courses/{intro['id']}")

    assert_problem(enroll(client, student, advanced), 409, "prerequisite-missing")


def test_corequisites_are_taken_in_the_same_term(client, offer, student):
    past = client.post("/terms", json=PAST).get_json()
    lab_then = offer("PHYS1L", in_term=past)
    lab = offer("phys1l")
    lecture = offer("PHYS1", corequisites=["PHYS1L"])
    enroll(client, student, lab_then)

    problem = assert_problem(enroll(client, student, lecture), 409, "corequisite-missing")
    assert problem["errors"][0]["codes"] == ["PHYS1L"]
    assert enroll(client, student, lab).status_code == 201
    assert enroll(client, student, lecture).status_code == 201


def test_a_meeting_overlapping_another_courses_is_a_time_conflict(client, offer, student):
    past = client.post("/terms", json=PAST).get_json()
    taken = offer(meetings=[TU_9, MWF_9])
    offer_then = offer(meetings=[MW_930], in_term=past)
    overlapping = offer(meetings=[MW_930])
    next_day = offer(meetings=[{**MW_930, "days": ["TH"]}])
    just_after = offer(meetings=[MW_950])
    enroll(client, student, taken)

    problem = assert_problem(enroll(client, student, overlapping), 409, "time-conflict")
    assert problem["errors"][0]["course_id"] == taken["id"]
    assert str(taken["id"]) in problem["detail"]
    assert enroll(client, student, next_day).status_code == 201
    assert enroll(client, student, just_after).status_code == 201  # 09:50 ends as it starts
    assert enroll(client, student, offer_then).status_code == 201  # another term


def test_credits_in_the_term_stay_within_the_students_limit_else_the_terms(
    client, term, offer, student
):
    client.patch(f"/terms/{term['id']}", json={"max_credits": 6})
    past = client.post("/terms", json=PAST).get_json()
    first, second, third = (offer(credits=3) for _ in range(3))
    elsewhere = offer(credits=4, in_term=past)
    free = offer(credits=0)

    assert enroll(client, student, elsewhere).status_code == 201  # another term's credits
    assert enroll(client, student, first).status_code == 201
    assert enroll(client, student, second).status_code == 201
    problem = assert_problem(enroll(client, student, third), 409, "credit-limit-exceeded")
    assert problem["errors"][0] | {"type": None} == {
        "type": None,
        "detail": "9 credits in the term would exceed the limit of 6.",
        "credits": 9,
        "max_credits": 6,
    }
    assert enroll(client, student, free).status_code == 201

    limit = f"/students/{student['id']}/credit-limits/{term['id']}"
    client.put(limit, json={"max_credits": 9})
    assert enroll(client, student, third).status_code == 201
    client.delete(f"/students/{student['id']}/courses/{third['id']}")
    client.put(limit, json={"max_credits": 3})  # lower than the term's
    assert_problem(enroll(client, student, third), 409, "credit-limit-exceeded")


# -- Every failure at once ----------------------------------------------------------------


def test_a_refusal_lists_every_broken_rule_in_order_and_writes_nothing(
    app, client, term, offer, student, make_student
):
    client.patch(f"/terms/{term['id']}", json={"max_credits": 4})
    taken = offer(credits=3, meetings=[MWF_9])
    wanted = offer(
        credits=3,
        capacity=1,
        meetings=[MW_930],
        prerequisites=["CS101"],
        corequisites=["LAB1"],
    )
    seated = enroll(  # the one seat
        client,
        make_student(),
        wanted,
        override=["prerequisite-missing", "corequisite-missing"],
        reason="Exchange student",
    )
    assert seated.status_code == 201
    enroll(client, student, taken)
    client.post(
        f"/students/{student['id']}/holds",
        json={"kind": "academic", "reason": "Probation", "blocks": ["registration"]},
    )
    before = counts(app)

    response = enroll(client, student, wanted, waitlist=True)

    problem = assert_problem(response, 409, "hold-active")
    assert error_types(response) == [
        "hold-active",
        "prerequisite-missing",
        "corequisite-missing",
        "time-conflict",
        "credit-limit-exceeded",
        "course-full",
    ]
    assert problem["detail"] == "The request breaks 6 registration rules; see errors."
    assert problem["title"] == "Hold active"
    assert counts(app) == before


def test_a_course_that_is_only_full_still_answers_course_full(client, offer, student, make_student):
    course = offer(capacity=1)
    enroll(client, make_student(), course)

    response = enroll(client, student, course)

    problem = assert_problem(response, 409, "course-full")
    assert problem["title"] == "Course is full"
    assert problem["detail"] == f"Course {course['id']} is full: its capacity is 1."
    assert error_types(response) == ["course-full"]


def test_joining_a_line_needs_the_rules_too(app, client, offer, student, make_student):
    course = offer(capacity=1, waitlist_capacity=5, prerequisites=["CS101"])
    with_prerequisite = make_student()
    client.post(
        f"/students/{with_prerequisite['id']}/courses",
        json={"course_id": course["id"], "override": ["prerequisite-missing"], "reason": "Dean"},
    )
    before = counts(app)

    response = enroll(client, student, course, waitlist=True)

    assert_problem(response, 409, "prerequisite-missing")
    assert error_types(response) == ["prerequisite-missing"]  # a place in line was open
    assert counts(app) == before


# -- Overrides ------------------------------------------------------------------------------


def test_an_admin_overrides_named_rules_with_a_reason_the_event_records(
    client, term, offer, student
):
    client.patch(f"/terms/{term['id']}", json={"max_credits": 3})
    taken = offer(credits=3, meetings=[MWF_9])
    wanted = offer(credits=3, meetings=[MW_930], prerequisites=["CS101"])
    enroll(client, student, taken)

    partly = enroll(
        client, student, wanted, override=["time-conflict"], reason="Instructor consent"
    )
    assert error_types(partly) == ["prerequisite-missing", "credit-limit-exceeded"]

    overrides = ["time-conflict", "prerequisite-missing", "credit-limit-exceeded"]
    response = enroll(client, student, wanted, override=overrides, reason="Instructor consent")

    assert response.status_code == 201, response.get_json()
    history = client.get(f"/students/{student['id']}/courses/{wanted['id']}/history").get_json()
    assert (history[-1]["overrides"], history[-1]["override_reason"]) == (
        overrides,
        "Instructor consent",
    )
    plain = client.get(f"/students/{student['id']}/courses/{taken['id']}/history").get_json()
    assert (plain[0]["overrides"], plain[0]["override_reason"]) == ([], None)


def test_capacity_and_the_window_are_never_overridden(client, offer, student, make_student):
    course = offer(capacity=1)
    enroll(client, make_student(), course)

    for slug in ("course-full", "registration-closed"):
        response = enroll(client, student, course, override=[slug], reason="Please")
        assert "override.0" in assert_problem(response, 422, "validation-error")["errors"]
    assert_problem(
        enroll(client, student, course, override=["hold-active"], reason="Please"),
        409,
        "course-full",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"override": ["time-conflict"]}, "reason"),
        ({"reason": "Why not"}, "reason"),
        ({"override": [], "reason": "Why"}, "override"),
        ({"override": ["time-conflict", "time-conflict"], "reason": "Why"}, "override"),
        ({"override": "time-conflict", "reason": "Why"}, "override"),
        ({"override": ["time-conflict"], "reason": ""}, "reason"),
        ({"override": ["time-conflict"], "reason": "x" * 501}, "reason"),
    ],
)
def test_an_invalid_override_is_422_and_writes_nothing(app, client, offer, student, body, field):
    before = counts(app)

    response = enroll(client, student, offer(), **body)

    assert field in assert_problem(response, 422, "validation-error")["errors"]
    assert counts(app) == before


def test_a_student_key_sending_an_override_is_403(app, offer, student):
    own = app.test_client(api_key=new_key(app, "student", student["id"]))
    course = offer()

    response = enroll(own, student, course, override=["time-conflict"], reason="Me")

    assert_problem(response, 403, "forbidden")
    put = own.put(
        f"/students/{student['id']}/courses/{course['id']}",
        json={"override": ["hold-active"], "reason": "Me"},
    )
    assert_problem(put, 403, "forbidden")


def test_put_takes_an_override_in_an_optional_body(client, offer, student):
    course = offer(prerequisites=["CS101"])
    path = f"/students/{student['id']}/courses/{course['id']}"

    assert_problem(client.put(path), 409, "prerequisite-missing")
    body = {"override": ["prerequisite-missing"], "reason": "Transfer credit"}
    assert client.put(path, json=body).status_code == 201
    assert client.put(path).status_code == 200  # already enrolled: the rules are not asked


# -- The dry run ------------------------------------------------------------------------------


def check(client, student, course, **body):
    return client.post(
        f"/students/{student['id']}/enrollment-checks", json={"course_id": course["id"], **body}
    )


def test_a_dry_run_answers_what_enrolling_would_do_and_writes_nothing(
    app, client, offer, student, make_student
):
    open_course = offer()
    full_with_line = offer(capacity=1, waitlist_capacity=3)
    full = offer(capacity=1)
    guarded = offer(prerequisites=["CS101"])
    for course in (full_with_line, full):
        enroll(client, make_student(), course)
    before = counts(app)

    answers = {
        name: check(client, student, course).get_json()
        for name, course in {
            "open": open_course,
            "line": full_with_line,
            "full": full,
            "guarded": guarded,
        }.items()
    }

    assert answers["open"] == {
        "course_id": open_course["id"],
        "eligible": True,
        "errors": [],
        "waitlist": False,
    }
    assert (answers["line"]["eligible"], answers["line"]["waitlist"]) == (True, True)
    assert answers["full"]["eligible"] is False
    assert [e["type"] for e in answers["full"]["errors"]] == ["/problems/course-full"]
    assert answers["guarded"]["errors"][0]["codes"] == ["CS101"]
    overridden = check(
        client, student, guarded, override=["prerequisite-missing"], reason="Transfer"
    ).get_json()
    assert overridden["eligible"] is True
    assert counts(app) == before


def test_a_dry_run_for_a_student_already_in_says_so(client, offer, student, make_student):
    course = offer(capacity=1, waitlist_capacity=2)
    enroll(client, student, course)
    waiting = make_student()
    enroll(client, waiting, course, waitlist=True)

    enrolled = check(client, student, course).get_json()
    in_line = check(client, waiting, course).get_json()

    assert [e["type"] for e in enrolled["errors"]] == ["/problems/already-enrolled"]
    assert [e["type"] for e in in_line["errors"]] == ["/problems/already-waitlisted"]
    assert (enrolled["eligible"], in_line["eligible"]) == (False, False)


def test_a_dry_run_has_enrollings_access_and_404s(app, client, offer, student, make_student):
    course = offer()
    own = app.test_client(api_key=new_key(app, "student", student["id"]))
    other = make_student()

    assert check(own, student, course).status_code == 200
    assert check(own, other, course).status_code == 403
    assert_problem(
        check(own, student, course, override=["hold-active"], reason="x"), 403, "forbidden"
    )
    assert_problem(check(client, student, {"id": 999999}), 404, "course-not-found")
    assert_problem(check(client, {"id": 999999}, course), 404, "student-not-found")


# -- A student's standing -------------------------------------------------------------------


def test_the_registration_standing_shows_window_credits_and_active_holds(
    client, term, offer, student
):
    client.patch(
        f"/terms/{term['id']}",
        json={"add_deadline": "2026-01-01T00:00:00Z", "max_credits": 15},
    )
    course = offer(credits=4)
    enroll(client, student, course)
    holds = f"/students/{student['id']}/holds"
    released = client.post(holds, json={"kind": "academic", "reason": "A", "blocks": ["drop"]})
    client.delete(f"{holds}/{released.get_json()['id']}")
    active = client.post(holds, json={"kind": "financial", "reason": "F", "blocks": ["drop"]})

    standing = client.get(f"/students/{student['id']}/registration?term_id={term['id']}")

    assert standing.status_code == 200
    body = standing.get_json()
    assert body["term_id"] == term["id"]
    assert body["window"] == {
        "opens_at": None,
        "add_deadline": "2026-01-01T00:00:00.000+00:00",
        "drop_deadline": None,
        "withdraw_deadline": None,
        "open": False,
    }
    assert body["credits"] == {"enrolled": 4, "max": 15}
    assert [hold["id"] for hold in body["holds"]] == [active.get_json()["id"]]
    client.put(f"/students/{student['id']}/credit-limits/{term['id']}", json={"max_credits": 20})
    again = client.get(f"/students/{student['id']}/registration?term_id={term['id']}").get_json()
    assert again["credits"]["max"] == 20


def test_the_standing_defaults_to_the_default_term_and_404s(client, student):
    default = client.get("/students/{}/registration".format(student["id"])).get_json()

    assert default["window"]["open"] is True
    assert default["credits"] == {"enrolled": 0, "max": None}
    assert_problem(client.get("/students/999999/registration"), 404, "student-not-found")
    assert_problem(
        client.get(f"/students/{student['id']}/registration?term_id=999999"), 404, "term-not-found"
    )
    assert (
        "term_id"
        in assert_problem(
            client.get(f"/students/{student['id']}/registration?term_id=x"), 422, "validation-error"
        )["errors"]
    )


# -- Waitlist promotion ---------------------------------------------------------------------


def test_a_freed_seat_passes_over_those_in_line_who_break_a_rule(
    client, term, offer, student, make_student
):
    course = offer(capacity=1, waitlist_capacity=5, credits=3)
    seated, behind = make_student(), make_student()
    enroll(client, seated, course)
    enroll(client, student, course, waitlist=True)
    enroll(client, behind, course, waitlist=True)
    client.post(
        f"/students/{student['id']}/holds",
        json={"kind": "financial", "reason": "Fees", "blocks": ["registration"]},
    )
    limited = make_student()
    enroll(client, limited, course, waitlist=True)
    client.put(f"/students/{limited['id']}/credit-limits/{term['id']}", json={"max_credits": 2})

    line = client.get(f"/courses/{course['id']}/waitlist").get_json()
    assert [(s["id"], s["blocked_by"]) for s in line] == [
        (student["id"], ["hold-active"]),
        (behind["id"], []),
        (limited["id"], ["credit-limit-exceeded"]),
    ]

    assert client.delete(f"/students/{seated['id']}/courses/{course['id']}").status_code == 204

    roster = client.get(f"/courses/{course['id']}/students").get_json()
    assert [s["id"] for s in roster] == [behind["id"]]
    line = client.get(f"/courses/{course['id']}/waitlist").get_json()
    assert [(s["id"], s["waitlist_position"]) for s in line] == [
        (student["id"], 1),
        (limited["id"], 2),
    ]


def test_a_raised_capacity_promotes_only_those_who_pass(client, term, offer, make_student):
    course = offer(capacity=1, waitlist_capacity=5, prerequisites=["CS101"])
    override = {"override": ["prerequisite-missing"], "reason": "Placement test"}
    first, second, third = make_student(), make_student(), make_student()
    enroll(client, first, course, **override)
    enroll(client, second, course, waitlist=True, **override)
    enroll(client, third, course, waitlist=True, **override)

    # Overrides are for one request: in line, both now break the prerequisite rule.
    response = client.patch(f"/courses/{course['id']}", json={"capacity": 3})

    assert response.status_code == 200
    assert [s["id"] for s in client.get(f"/courses/{course['id']}/students").get_json()] == [
        first["id"]
    ]
    client.patch(f"/courses/{course['id']}", json={"prerequisites": []})
    client.patch(f"/courses/{course['id']}", json={"capacity": 4})
    roster = client.get(f"/courses/{course['id']}/students").get_json()
    assert {s["id"] for s in roster} == {first["id"], second["id"], third["id"]}


# -- Batches and the CSV import ---------------------------------------------------------


def batch(client, *pairs):
    body = {"enrollments": [{"student_id": s["id"], "course_id": c["id"]} for s, c in pairs]}
    return client.post("/enrollments/batch", json=body)


def test_a_batch_breaking_rules_lists_each_pair_and_writes_nothing(
    app, client, term, offer, student, make_student
):
    client.patch(f"/terms/{term['id']}", json={"max_credits": 5})
    guarded = offer(prerequisites=["CS101"])
    plain, other = offer(credits=3, meetings=[MWF_9]), offer(credits=3, meetings=[MW_930])
    fine = make_student()
    before = counts(app)

    response = batch(client, (fine, plain), (student, guarded), (student, plain), (student, other))

    problem = assert_problem(response, 409, "batch-rejected")
    assert [(e["index"], e["type"].rsplit("/", 1)[1]) for e in problem["errors"]] == [
        (1, "prerequisite-missing"),
        (1, "credit-limit-exceeded"),
        (2, "time-conflict"),
        (2, "credit-limit-exceeded"),
        (3, "time-conflict"),
        (3, "credit-limit-exceeded"),
    ]
    assert counts(app) == before


def test_a_corequisite_in_the_same_batch_counts(client, offer, student):
    lab, lecture = offer("LAB1"), offer("LEC1", corequisites=["LAB1"])

    response = batch(client, (student, lecture), (student, lab))

    assert response.status_code == 200, response.get_json()
    assert batch(client, (student, lecture)).status_code == 200  # already in: nothing to check


def test_the_import_refuses_lines_that_break_rules(app, client, tmp_path, term, offer, student):
    from tests.api.test_batches import run_import

    client.patch(f"/terms/{term['id']}", json={"is_default": True})
    offer("LAB1")
    offer("LEC1", corequisites=["LAB1"])
    offer("ADV1", prerequisites=["CS101"])
    email = student["email"]
    before = counts(app)

    refused = run_import(app, tmp_path, f"student_email,course_code\n{email},ADV1\n{email},LEC1\n")

    assert refused.exit_code != 0
    assert "line 2" in refused.output
    assert "Prerequisites not taken" in refused.output
    assert "line 3" in refused.output
    assert counts(app) == before
    accepted = run_import(app, tmp_path, f"student_email,course_code\n{email},LEC1\n{email},LAB1\n")
    assert accepted.exit_code == 0, accepted.output


def test_a_hold_on_drops_refuses_the_students_own_drop_but_not_an_admins(
    app, client, offer, student
):
    course, other = offer(), offer()
    enroll(client, student, course)
    enroll(client, student, other)
    own = app.test_client(api_key=new_key(app, "student", student["id"]))
    holds = f"/students/{student['id']}/holds"
    hold = client.post(holds, json={"kind": "academic", "reason": "Advising", "blocks": ["drop"]})

    refused = own.delete(f"/students/{student['id']}/courses/{course['id']}")

    assert_problem(refused, 409, "hold-active")
    assert error_types(refused) == ["hold-active"]
    assert client.delete(f"/students/{student['id']}/courses/{other['id']}").status_code == 204
    client.delete(f"{holds}/{hold.get_json()['id']}")
    assert own.delete(f"/students/{student['id']}/courses/{course['id']}").status_code == 204
