"""The OneRoster 1.2 Rostering service (src/api/oneroster.py): every response checked
against 1EdTech's own OpenAPI document (tests/contract/oneroster/), never a copy."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import jsonschema
import pytest
from sqlalchemy import select

from src.auth import oauth
from src.database import db
from src.models import Course, OAuthToken, Term
from tests.conftest import in_a_fresh_window, make_app

OFFICIAL = Path(__file__).resolve().parent.parent / "contract" / "oneroster"
SPEC_FILE = OFFICIAL / "onerosterv1p2rostersservice_openapi3_v1p0.json"
SPEC = json.loads(SPEC_FILE.read_text())
BASE = "/ims/oneroster/rostering/v1p2"
CORE, ROSTER = oauth.ROSTER_CORE_SCOPE, oauth.ROSTER_SCOPE
SCHOOL = "6d1c3d1e-2f5b-4c51-9a0e-6f1c6e3b7a10"  # the default ONEROSTER_SCHOOL_SOURCED_ID
FALL = {"code": "2026-FA", "name": "Fall 2026", "starts_on": "2026-08-31", "ends_on": "2026-12-18"}
SPRING = {"code": "2027-SP", "name": "Spring", "starts_on": "2027-01-11", "ends_on": "2027-05-07"}


def _operation(path: str) -> dict:
    """The official document's GET operation whose template matches ``path``."""
    relative = path.split("?")[0].removeprefix(BASE)
    for template, item in SPEC["paths"].items():
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), relative):
            return item["get"]
    raise AssertionError(f"the official document has no path for {relative}")


def conforms(response, path: str) -> dict:
    """Assert the response is what the official document says the operation answers
    with this status (its schema, by JSON Schema); return the body."""
    operation = _operation(path)
    responses = operation["responses"]
    documented = responses.get(str(response.status_code)) or responses.get("default")
    assert documented is not None, (path, response.status_code)
    schema = documented["content"]["application/json"]["schema"]
    body = response.get_json()
    validator = jsonschema.Draft4Validator(
        {**schema, "components": SPEC["components"]}, format_checker=jsonschema.FormatChecker()
    )
    errors = [error.message for error in validator.iter_errors(body)]
    assert errors == [], (path, body)
    return body


def issue_token(app, scopes=oauth.SCOPES) -> tuple[str, str]:
    """A new client that may have ``scopes``, and a token it got at the token endpoint."""
    with app.app_context():
        new = oauth.create_client("LMS", scopes)
    response = app.test_client(api_key=None).post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": new.client_id,
            "client_secret": new.secret,
        },
    )
    assert response.status_code == 200, response.get_json()
    return new.client_id, response.get_json()["access_token"]


@pytest.fixture
def make_token(app):
    """A token with ``scopes`` (what its new client may have; both by default)."""
    return lambda *scopes: issue_token(app, scopes or oauth.SCOPES)[1]


@pytest.fixture
def platform(app, make_token):
    """A learning platform's client: its token has both scopes."""
    return app.test_client(api_key=make_token())


def get(client, path, **query):
    response = client.get(BASE + path, query_string=query)
    return response, conforms(response, BASE + path)


def sourced_ids(app) -> dict[str, str]:
    with app.app_context():
        return {t.code: str(t.sourced_id) for t in db.session.scalars(select(Term))}


def test_the_validator_checks_the_documents_formats():
    checked = jsonschema.FormatChecker().checkers

    assert {"date", "date-time", "uri"} <= set(checked)


def test_the_official_document_is_1edtechs_byte_for_byte():
    digest = hashlib.sha256(SPEC_FILE.read_bytes()).hexdigest()

    assert digest == "c473f6ba3a70f0e40b89d56c1b4c16c1f67f7363b4e4dc8601e8b732fb6807f4"


def test_terms_are_academic_sessions_of_type_term(app, client, platform):
    assert client.post("/terms", json=FALL).status_code == 201
    assert client.post("/terms", json=SPRING).status_code == 201
    ids = sourced_ids(app)

    response, body = get(platform, "/terms")

    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == "3"  # and the default term
    by_title = {session["title"]: session for session in body["academicSessions"]}
    fall = by_title["Fall 2026"]
    assert fall["sourcedId"] == ids["2026-FA"]
    assert fall["status"] == "active"
    assert fall["type"] == "term"
    assert fall["startDate"] == "2026-08-31"
    assert fall["endDate"] == "2026-12-19"  # OneRoster's end date is exclusive
    assert fall["schoolYear"] == "2027"
    assert by_title["Spring"]["schoolYear"] == "2027"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", fall["dateLastModified"])
    listed = [session["sourcedId"] for session in body["academicSessions"]]
    assert listed == sorted(listed)  # default order: sourcedId
    assert get(platform, "/academicSessions")[1] == body


def test_one_term_by_its_sourced_id(app, client, platform):
    client.post("/terms", json=FALL)
    fall = sourced_ids(app)["2026-FA"]

    by_terms, body = get(platform, f"/terms/{fall}")
    by_sessions, same = get(platform, f"/academicSessions/{fall}")

    assert by_terms.status_code == by_sessions.status_code == 200
    assert body == same
    assert body["academicSession"]["sourcedId"] == fall
    assert body["academicSession"]["title"] == "Fall 2026"


def test_a_renamed_term_keeps_its_sourced_id_and_moves_its_date(app, client, platform):
    term = client.post("/terms", json=FALL).get_json()
    fall = sourced_ids(app)["2026-FA"]
    before = get(platform, f"/terms/{fall}")[1]["academicSession"]

    renamed = client.patch(f"/terms/{term['id']}", json={"code": "FA26", "name": "Autumn 2026"})

    assert renamed.status_code == 200

    after = get(platform, f"/terms/{fall}")[1]["academicSession"]
    assert after["title"] == "Autumn 2026"
    assert after["dateLastModified"] > before["dateLastModified"]


@pytest.mark.parametrize(
    "path",
    [
        "/terms/6d1c3d1e-0000-4c51-9a0e-6f1c6e3b7a10",
        "/academicSessions/not-a-uuid",
        "/gradingPeriods/6d1c3d1e-0000-4c51-9a0e-6f1c6e3b7a10",
        "/orgs/someone-else",
        "/schools/someone-else",
        "/schools/someone-else/terms",
    ],
)
def test_an_unknown_sourced_id_is_404_unknownobject(platform, path):
    response, body = get(platform, path)

    assert response.status_code == 404
    assert body["imsx_codeMajor"] == "failure"
    assert body["imsx_severity"] == "error"
    field = body["imsx_CodeMinor"]["imsx_codeMinorField"][0]
    assert field["imsx_codeMinorFieldValue"] == "unknownobject"


def test_the_school_is_one_org_of_type_school(platform):
    response, body = get(platform, "/orgs")

    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == "1"
    [org] = body["orgs"]
    assert org["sourcedId"] == SCHOOL
    assert org["type"] == "school"
    assert org["name"] == "Registrar school"
    assert org["identifier"] == "SCHOOL"
    assert get(platform, "/schools")[1] == body
    assert get(platform, f"/orgs/{SCHOOL}")[1] == {"org": org}
    assert get(platform, f"/schools/{SCHOOL}")[1] == {"org": org}


def test_the_schools_terms_are_every_term(client, platform):
    client.post("/terms", json=FALL)

    response, body = get(platform, f"/schools/{SCHOOL}/terms")

    assert response.status_code == 200
    assert [session["title"] for session in body["academicSessions"]] != []
    assert body == get(platform, "/terms")[1]


def test_there_are_no_grading_periods(platform):
    response, body = get(platform, "/gradingPeriods")

    assert response.status_code == 200
    assert body == {"academicSessions": []}
    assert response.headers["X-Total-Count"] == "0"


def test_pages_have_a_total_and_links_and_large_limits_are_clamped(client, platform):
    for n in range(5):
        client.post("/terms", json={**FALL, "code": f"T{n}"})
    everything = get(platform, "/terms")[1]["academicSessions"]

    response, body = get(platform, "/terms", limit=2, offset=2)
    huge, all_of_them = get(platform, "/terms", limit=1_000_000)

    assert response.headers["X-Total-Count"] == "6"
    assert body["academicSessions"] == everything[2:4]
    links = response.headers["Link"]
    for rel, offset in (("first", 0), ("prev", 0), ("next", 4), ("last", 4)):
        assert f'limit=2&offset={offset}>; rel="{rel}"' in links
    assert huge.status_code == 200
    assert all_of_them["academicSessions"] == everything
    assert "limit=10000&offset=0" in huge.headers["Link"]


@pytest.mark.parametrize(
    ("query", "code_minor"),
    [
        ({"limit": "0"}, "invaliddata"),
        ({"limit": "ten"}, "invaliddata"),
        ({"offset": "-1"}, "invaliddata"),
        ({"filter": "status='active'"}, "invalid_filter_field"),
        ({"fields": "sourcedId"}, "invalid_selection_field"),
        ({"sort": "title"}, "invaliddata"),
    ],
)
def test_parameters_not_understood_are_400_never_ignored(platform, query, code_minor):
    response, body = get(platform, "/terms", **query)

    assert response.status_code == 400
    field = body["imsx_CodeMinor"]["imsx_codeMinorField"][0]
    assert field["imsx_codeMinorFieldValue"] == code_minor


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic eDp5"])
def test_without_a_valid_token_it_is_401_unauthorisedrequest(app, authorization):
    headers = {"Authorization": authorization} if authorization else {}

    response = app.test_client(api_key=None).get(BASE + "/terms", headers=headers)

    body = conforms(response, BASE + "/terms")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    field = body["imsx_CodeMinor"]["imsx_codeMinorField"][0]
    assert field["imsx_codeMinorFieldValue"] == "unauthorisedrequest"


def test_an_api_key_does_not_open_the_oneroster_paths(client):
    response = client.get(BASE + "/terms")  # the admin key

    assert response.status_code == 401
    conforms(response, BASE + "/terms")


def test_a_core_token_reads_collections_but_not_nested_paths(app, make_token):
    core = app.test_client(api_key=make_token(CORE))

    assert get(core, "/terms")[0].status_code == 200
    assert get(core, f"/orgs/{SCHOOL}")[0].status_code == 200
    response, body = get(core, f"/schools/{SCHOOL}/terms")

    assert response.status_code == 403
    assert body["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"] == (
        "forbidden"
    )


def test_a_roster_token_reads_both(app, make_token):
    roster = app.test_client(api_key=make_token(ROSTER))

    assert get(roster, "/terms")[0].status_code == 200
    assert get(roster, f"/schools/{SCHOOL}/terms")[0].status_code == 200


def test_a_revoked_clients_token_stops_at_once(app):
    client_id, token = issue_token(app)
    platform = app.test_client(api_key=token)
    assert get(platform, "/terms")[0].status_code == 200

    with app.app_context():
        assert oauth.revoke_client(client_id)

    assert get(platform, "/terms")[0].status_code == 401


def test_rate_limits_count_per_client_and_answer_in_imsx(app, database_url, make_token):
    limited = make_app(database_url, RATELIMIT_ENABLED=True, RATE_LIMIT="2/minute")
    first, second = make_token(), make_token()
    in_a_fresh_window(60)

    answers = [limited.test_client(api_key=first).get(BASE + "/orgs") for _ in range(3)]
    other = limited.test_client(api_key=second).get(BASE + "/orgs")

    assert [a.status_code for a in answers] == [200, 200, 429]
    body = conforms(answers[2], BASE + "/orgs")
    assert body["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"] == (
        "server_busy"
    )
    assert "Retry-After" in answers[2].headers
    assert other.status_code == 200  # the same address, another client


MEETS = [{"days": ["MO", "WE"], "starts_at": "09:00", "ends_at": "10:15", "room": "ENG 101"}]


@pytest.fixture
def catalog(app, client, make_student):
    """Two terms; CS101 offered in both (in two cases of its code), MATH200 in the fall."""
    fall = client.post("/terms", json=FALL).get_json()
    spring = client.post("/terms", json=SPRING).get_json()
    offered = {
        "fall-cs": {"code": "CS101", "title": "Computing", "term_id": fall["id"], "capacity": 30,
                    "meetings": MEETS},
        "spring-cs": {"code": "cs101", "title": "Computing II", "term_id": spring["id"]},
        "fall-math": {"code": "MATH200", "title": "Algebra", "term_id": fall["id"], "capacity": 2},
    }  # fmt: skip
    made = {name: client.post("/courses", json=body).get_json() for name, body in offered.items()}
    student = make_student()
    enrolled = client.post(
        f"/students/{student['id']}/courses", json={"course_id": made["fall-math"]["id"]}
    )
    assert enrolled.status_code == 201
    with app.app_context():
        ids = {
            name: str(db.session.get(Course, course["id"]).sourced_id)
            for name, course in made.items()
        }
    return {"ids": ids, "terms": sourced_ids(app)}


def test_each_offering_is_a_class_of_its_term_and_course(platform, catalog):
    response, body = get(platform, "/classes")

    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == "3"
    by_id = {item["sourcedId"]: item for item in body["classes"]}
    assert list(by_id) == sorted(by_id)
    fall_cs = by_id[catalog["ids"]["fall-cs"]]
    assert fall_cs["classCode"] == "CS101"
    assert fall_cs["title"] == "Computing"
    assert fall_cs["classType"] == "scheduled"
    assert fall_cs["location"] == "ENG 101"
    assert fall_cs["terms"] == [
        {
            "href": f"http://localhost{BASE}/academicSessions/{catalog['terms']['2026-FA']}",
            "sourcedId": catalog["terms"]["2026-FA"],
            "type": "academicSession",
        }
    ]
    assert fall_cs["school"]["sourcedId"] == SCHOOL
    math = by_id[catalog["ids"]["fall-math"]]
    assert math["metadata"] == {"capacity": 2, "enrolledCount": 1, "seatsAvailable": 1}
    assert "location" not in math
    # One course for the code in any case: both CS101 classes name it.
    spring_cs = by_id[catalog["ids"]["spring-cs"]]
    assert spring_cs["course"]["sourcedId"] == fall_cs["course"]["sourcedId"]
    one, single = get(platform, f"/classes/{catalog['ids']['fall-cs']}")
    assert one.status_code == 200
    assert single == {"class": fall_cs}


def test_each_course_code_is_a_course_named_by_its_latest_offering(platform, catalog):
    response, body = get(platform, "/courses")

    assert response.status_code == 200
    assert response.headers["X-Total-Count"] == "2"
    by_code = {item["courseCode"].upper(): item for item in body["courses"]}
    assert by_code["CS101"]["title"] == "Computing II"
    assert by_code["MATH200"]["title"] == "Algebra"
    cs = by_code["CS101"]["sourcedId"]
    assert get(platform, f"/courses/{cs}")[1] == {"course": by_code["CS101"]}
    classes, listed = get(platform, f"/courses/{cs}/classes")
    assert classes.status_code == 200
    assert {item["sourcedId"] for item in listed["classes"]} == {
        catalog["ids"]["fall-cs"],
        catalog["ids"]["spring-cs"],
    }


def test_a_terms_classes_and_the_schools(platform, catalog):
    fall = catalog["terms"]["2026-FA"]

    response, body = get(platform, f"/terms/{fall}/classes")

    assert response.status_code == 200
    assert {item["sourcedId"] for item in body["classes"]} == {
        catalog["ids"]["fall-cs"],
        catalog["ids"]["fall-math"],
    }
    assert get(platform, f"/schools/{SCHOOL}/classes")[1] == get(platform, "/classes")[1]
    assert get(platform, f"/schools/{SCHOOL}/courses")[1] == get(platform, "/courses")[1]


@pytest.mark.parametrize(
    "path",
    [
        "/classes/6d1c3d1e-0000-4c51-9a0e-6f1c6e3b7a10",
        "/classes/nope",
        "/courses/nope",
        "/courses/nope/classes",
        "/terms/nope/classes",
        "/terms/6d1c3d1e-0000-4c51-9a0e-6f1c6e3b7a10/classes",
        "/schools/nope/classes",
        "/schools/nope/courses",
    ],
)
def test_unknown_classes_and_courses_are_404(platform, catalog, path):
    response, body = get(platform, path)

    assert response.status_code == 404
    assert body["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"] == (
        "unknownobject"
    )


def test_a_core_token_cannot_read_a_courses_classes(app, make_token, catalog):
    core = app.test_client(api_key=make_token(CORE))
    cs = get(core, "/courses")[1]["courses"][0]["sourcedId"]

    assert get(core, f"/courses/{cs}/classes")[0].status_code == 403
    assert get(core, f"/terms/{catalog['terms']['2026-FA']}/classes")[0].status_code == 403


def test_an_expired_token_is_401_invalid_token(app, make_token):
    token = make_token()
    with app.app_context():
        stored = db.session.scalars(select(OAuthToken)).one()
        stored.expires_at = stored.issued_at
        db.session.commit()

    response = app.test_client(api_key=token).get(BASE + "/terms")

    conforms(response, BASE + "/terms")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_no_token_is_401_with_a_bare_challenge_and_no_scope_403_with_one(app, make_token):
    bare = app.test_client(api_key=None).get(BASE + "/terms")
    core = app.test_client(api_key=make_token(CORE)).get(f"{BASE}/schools/{SCHOOL}/terms")

    assert bare.headers["WWW-Authenticate"] == 'Bearer realm="oneroster"'
    assert core.status_code == 403
    assert 'error="insufficient_scope"' in core.headers["WWW-Authenticate"]


def test_paths_and_methods_the_service_has_not_answer_in_imsx(platform):
    missing = platform.get(BASE + "/users")
    posted = platform.post(BASE + "/terms", json={})
    anonymous_missing = platform.get(BASE + "/users", headers={"Authorization": ""})

    assert missing.status_code == 404
    assert missing.get_json()["imsx_codeMajor"] == "failure"
    assert posted.status_code == 405
    assert posted.headers["Allow"] == "GET"
    assert posted.get_json()["imsx_codeMajor"] == "failure"
    assert anonymous_missing.status_code == 401


@pytest.mark.parametrize("offset", ["2147483648", "99999999999999999999999"])
def test_an_offset_past_int32_is_400(platform, offset):
    response, body = get(platform, "/terms", offset=offset)

    assert response.status_code == 400
    assert body["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"] == (
        "invaliddata"
    )
