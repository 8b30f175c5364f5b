"""Every route x every kind of caller: 401, 403 or success, exactly as the roles say."""

from __future__ import annotations

import re
from typing import Any

import pytest

from src.auth.access import allow, public
from tests.conftest import make_app
from tests.security.conftest import World, client_with

IDENTITIES = [
    "none", "revoked", "reader", "student_a", "student_b", "instructor_i", "instructor_j", "admin"
]  # fmt: skip
#: Every key with a role: each may read the catalogue (terms, courses, their instructors).
EVERY_KEY = {"reader", "student_a", "student_b", "instructor_i", "instructor_j"}
NEW_STUDENT = {"first_name": "New", "last_name": "Student", "email": "new@example.edu"}
NEW_COURSE = {"code": "NEW1", "title": "New course"}
NEW_INSTRUCTOR = {"first_name": "New", "last_name": "Teacher", "email": "new@example.edu"}
NEW_TERM = {"code": "NEW", "name": "New term", "starts_on": "2027-08-30", "ends_on": "2027-12-17"}

#: (method, route as Flask spells it, path template, body, callers besides admin allowed).
#: Paths always name student A, so student B is always asking for someone else's data.
OPERATIONS: list[tuple[str, str, str, Any, set[str]]] = [
    ("GET", "/students", "/students", None, {"reader"}),
    ("POST", "/students", "/students", NEW_STUDENT, set()),
    ("GET", "/students/<id:student_id>", "/students/{a}", None, {"reader", "student_a"}),
    ("PATCH", "/students/<id:student_id>", "/students/{a}", {"last_name": "X"}, set()),
    ("DELETE", "/students/<id:student_id>", "/students/{a}", None, set()),
    ("GET", "/students/<id:student_id>/courses", "/students/{a}/courses", None, {"reader", "student_a"}),
    ("POST", "/students/<id:student_id>/courses", "/students/{a}/courses", {"course_id": "{d}"}, {"student_a"}),
    ("GET", "/students/<id:student_id>/courses/<id:course_id>", "/students/{a}/courses/{c}", None, {"reader", "student_a"}),
    ("PUT", "/students/<id:student_id>/courses/<id:course_id>", "/students/{a}/courses/{d}", None, {"student_a"}),
    ("DELETE", "/students/<id:student_id>/courses/<id:course_id>", "/students/{a}/courses/{c}", None, {"student_a"}),
    ("GET", "/courses", "/courses", None, EVERY_KEY),
    ("POST", "/courses", "/courses", NEW_COURSE, set()),
    ("GET", "/courses/<id:course_id>", "/courses/{c}", None, EVERY_KEY),
    ("PATCH", "/courses/<id:course_id>", "/courses/{c}", {"title": "Renamed"}, set()),
    ("DELETE", "/courses/<id:course_id>", "/courses/{d}", None, set()),
    ("GET", "/courses/<id:course_id>/students", "/courses/{c}/students", None, {"reader", "instructor_i"}),
    ("GET", "/courses/<id:course_id>/waitlist", "/courses/{c}/waitlist", None, {"reader", "instructor_i"}),
    ("GET", "/courses/<id:course_id>/students", "/courses/{d}/students", None, {"reader"}),
    ("GET", "/students/<id:student_id>/courses/<id:course_id>/history", "/students/{a}/courses/{c}/history", None, {"reader", "student_a"}),
    ("GET", "/events", "/events", None, {"reader"}),
    ("POST", "/enrollments/batch", "/enrollments/batch", {"enrollments": [{"student_id": "{a}", "course_id": "{d}"}]}, set()),
    ("GET", "/metrics", "/metrics", None, {"reader"}),
    ("GET", "/students/<id:student_id>/schedule", "/students/{a}/schedule", None, {"reader", "student_a"}),
    ("GET", "/terms", "/terms", None, EVERY_KEY),
    ("POST", "/terms", "/terms", NEW_TERM, set()),
    ("GET", "/terms/<id:term_id>", "/terms/{t}", None, EVERY_KEY),
    ("PATCH", "/terms/<id:term_id>", "/terms/{t}", {"name": "Renamed"}, set()),
    ("DELETE", "/terms/<id:term_id>", "/terms/{t}", None, set()),
    ("GET", "/instructors", "/instructors", None, {"reader"}),
    ("POST", "/instructors", "/instructors", NEW_INSTRUCTOR, set()),
    ("GET", "/instructors/<id:instructor_id>", "/instructors/{i}", None, {"reader", "instructor_i"}),
    ("PATCH", "/instructors/<id:instructor_id>", "/instructors/{i}", {"last_name": "X"}, set()),
    ("DELETE", "/instructors/<id:instructor_id>", "/instructors/{j}", None, set()),
    ("GET", "/instructors/<id:instructor_id>/courses", "/instructors/{i}/courses", None, {"reader", "instructor_i"}),
    ("GET", "/courses/<id:course_id>/instructors", "/courses/{c}/instructors", None, EVERY_KEY),
    ("PUT", "/courses/<id:course_id>/instructors/<id:instructor_id>", "/courses/{d}/instructors/{i}", {"role": "secondary"}, set()),
    ("DELETE", "/courses/<id:course_id>/instructors/<id:instructor_id>", "/courses/{c}/instructors/{i}", None, set()),
    ("POST", "/students/<id:student_id>/enrollment-checks", "/students/{a}/enrollment-checks", {"course_id": "{d}"}, {"student_a"}),
    ("GET", "/students/<id:student_id>/holds", "/students/{a}/holds", None, {"reader", "student_a"}),
    ("POST", "/students/<id:student_id>/holds", "/students/{a}/holds", {"kind": "academic", "reason": "Transcript", "blocks": ["drop"]}, set()),
    # Hold H is student E's, whom no key here belongs to.
    ("GET", "/students/<id:student_id>/holds/<id:hold_id>", "/students/{e}/holds/{h}", None, {"reader"}),
    ("DELETE", "/students/<id:student_id>/holds/<id:hold_id>", "/students/{e}/holds/{h}", None, set()),
    ("GET", "/students/<id:student_id>/registration", "/students/{a}/registration", None, {"reader", "student_a"}),
    ("GET", "/students/<id:student_id>/credit-limits", "/students/{a}/credit-limits", None, {"reader", "student_a"}),
    ("PUT", "/students/<id:student_id>/credit-limits/<id:term_id>", "/students/{a}/credit-limits/{t}", {"max_credits": 18}, set()),
    ("DELETE", "/students/<id:student_id>/credit-limits/<id:term_id>", "/students/{a}/credit-limits/{t}", None, set()),
]  # fmt: skip

#: Anyone, with or without a key.
PUBLIC = [
    ("GET", "/health"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/assets/<path:filename>"),
]

#: Routes that authenticate their callers themselves, with no API key: OAuth clients at
#: the token endpoint (tests/security/test_oauth.py) and their bearer tokens on the
#: OneRoster paths (tests/api/test_oneroster.py). Every API key is refused there: 401.
ONEROSTER = "/ims/oneroster/rostering/v1p2"
SOME_ID = "6d1c3d1e-2f5b-4c51-9a0e-6f1c6e3b7a10"
ONEROSTER_RULES = [
    "/orgs", "/orgs/<sourced_id>", "/schools", "/schools/<sourced_id>", "/academicSessions",
    "/academicSessions/<sourced_id>", "/terms", "/terms/<sourced_id>", "/gradingPeriods",
    "/gradingPeriods/<sourced_id>", "/schools/<school_id>/terms", "/classes",
    "/classes/<sourced_id>", "/courses", "/courses/<sourced_id>", "/courses/<course_id>/classes",
    "/terms/<term_id>/classes", "/schools/<school_id>/classes", "/schools/<school_id>/courses",
]  # fmt: skip
OWN_AUTHENTICATION = [
    ("POST", "/oauth/token", "/oauth/token"),
    *(
        ("GET", ONEROSTER + rule, ONEROSTER + re.sub(r"<\w+>", SOME_ID, rule))
        for rule in ONEROSTER_RULES
    ),
    # Anything else under the prefix answers in OneRoster's terms, a token first.
    *(
        (method, f"{ONEROSTER}/<path:unknown>", f"{ONEROSTER}/users")
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
    ),
]


def _fill(value: Any, world: World) -> Any:
    ids = {
        "a": world.student_a,
        "e": world.student_e,
        "h": world.hold_h,
        "c": world.course_c,
        "d": world.course_d,
        "t": world.term_t,
        "i": world.instructor_i,
        "j": world.instructor_j,
    }
    if isinstance(value, str):
        if value in {f"{{{name}}}" for name in ids}:
            return ids[value[1]]
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, world) for v in value]
    return value


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize(
    ("method", "rule", "path", "body", "allowed"),
    OPERATIONS,
    ids=[f"{m} {p}" for m, _, p, _, _ in OPERATIONS],
)
def test_access(app, world, identity, method, rule, path, body, allowed):
    client = client_with(app, world.keys[identity])

    response = client.open(_fill(path, world), method=method, json=_fill(body, world))

    if identity in ("none", "revoked"):
        assert response.status_code == 401, response.get_data(as_text=True)
        assert response.headers["WWW-Authenticate"].lower().startswith("bearer")
        assert response.get_json()["type"].endswith("/unauthorized")
    elif identity == "admin" or identity in allowed:
        assert 200 <= response.status_code < 300, response.get_data(as_text=True)
    else:
        assert response.status_code == 403, response.get_data(as_text=True)
        assert response.get_json()["type"].endswith("/forbidden")


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize(("method", "path"), PUBLIC)
def test_public_endpoints_need_no_key(app, world, identity, method, path):
    path = path.replace("<path:filename>", "swagger-ui.css")
    response = client_with(app, world.keys[identity]).open(path, method=method)
    response.close()  # a file from disk is streamed

    assert response.status_code == 200


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize(
    ("method", "rule", "path"), OWN_AUTHENTICATION, ids=[p for _, _, p in OWN_AUTHENTICATION]
)
def test_no_api_key_opens_what_authenticates_itself(app, world, identity, method, rule, path):
    response = client_with(app, world.keys[identity]).open(
        path, method=method, data={"grant_type": "client_credentials"}
    )

    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers


def test_every_route_has_a_row_in_the_matrix(app):
    covered = (
        {(m, r) for m, r, _, _, _ in OPERATIONS}
        | set(PUBLIC)
        | {(m, r) for m, r, _ in OWN_AUTHENTICATION}
    )
    routes = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }

    assert routes - covered == set(), "a new route needs its row in OPERATIONS"
    assert covered - routes == set()


def test_a_route_without_a_rule_is_for_admins_only(database_url, world):
    other = make_app(database_url)
    other.add_url_rule("/unruled", "unruled", lambda: {"secret": True})

    statuses = {
        i: client_with(other, world.keys[i]).get("/unruled").status_code for i in IDENTITIES
    }

    assert statuses == {
        "none": 401,
        "revoked": 401,
        "reader": 403,
        "student_a": 403,
        "student_b": 403,
        "instructor_i": 403,
        "instructor_j": 403,
        "admin": 200,
    }


def test_student_b_can_manage_only_their_own_enrollments(app, world):
    client = client_with(app, world.keys["student_b"])
    own = f"/students/{world.student_b}/courses"

    assert client.post(own, json={"course_id": world.course_c}).status_code == 201
    assert client.get(own).get_json()[0]["id"] == world.course_c
    assert client.get(f"/students/{world.student_b}").status_code == 200
    assert client.delete(f"{own}/{world.course_c}").status_code == 204
    assert client.get(f"/courses/{world.course_c}/students").status_code == 403


@pytest.mark.parametrize(
    "header",
    [
        "Basic YWRtaW46YWRtaW4=",
        "Bearer",
        "Bearer ",
        "Bearer not-a-key",
        "Bearer reg_00000000_forged",
        "Token {admin}",
    ],
)
def test_malformed_or_forged_credentials_are_401(app, world, header):
    client = client_with(app, None)

    response = client.get(
        "/courses", headers={"Authorization": header.format(admin=world.keys["admin"])}
    )

    assert response.status_code == 401


def test_a_forged_secret_with_a_real_prefix_is_401(app, world):
    real = world.keys["admin"]
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")

    assert client_with(app, forged).get("/courses").status_code == 401


def test_unknown_routes_need_a_key_before_they_say_404(app, world):
    assert client_with(app, None).get("/secret-admin-panel").status_code == 401
    assert client_with(app, world.keys["reader"]).get("/secret-admin-panel").status_code == 404


def test_one_mark_makes_a_route_public(database_url):
    other = make_app(database_url)
    other.add_url_rule("/open", "open", public(lambda: {"open": True}))

    assert client_with(other, None).get("/open").status_code == 200


def test_allow_without_a_grant_is_refused():
    # "allow()" read as "allow everyone" but meant admins only: say admins_only.
    with pytest.raises(TypeError, match="admins_only"):
        allow()
