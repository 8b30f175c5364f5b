"""No body is a 500: arbitrary bytes and JSON documents at every endpoint that takes one."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import assert_problem

#: Every endpoint that reads a body. The ids name nothing: a well-formed, valid body
#: meets a 404, so every request must answer 4xx.
BODY_ENDPOINTS = [
    ("POST", "/students"),
    ("PATCH", "/students/999"),
    ("POST", "/courses"),
    ("PATCH", "/courses/999"),
    ("POST", "/students/999/courses"),
    ("POST", "/enrollments/batch"),
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
documents = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["first_name", "email", "code", "title", "course_id", "enrollments"])
            | st.text(max_size=8),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


def nested(depth: int) -> bytes:
    """A document nested ``depth`` levels deep, far inside the size limit."""
    return b'{"a":' * depth + b"1" + b"}" * depth


@st.composite
def raw_bodies(draw: st.DrawFn) -> bytes:
    """Bytes a client could send: JSON with the oddities parsers meet, or anything."""
    kind = draw(st.sampled_from(["json", "bytes", "deep", "number", "bom", "dupe", "surrogate"]))
    if kind == "json":
        return json.dumps(draw(documents), allow_nan=True).encode()
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "deep":
        return nested(draw(st.integers(min_value=1_000, max_value=60_000)))
    if kind == "number":
        digits = draw(st.integers(min_value=300, max_value=20_000))
        return b'{"course_id": ' + b"9" * digits + b"}"
    if kind == "bom":
        return b"\xef\xbb\xbf" + json.dumps(draw(documents)).encode()
    if kind == "dupe":
        return b'{"course_id": 1, "course_id": "x", "waitlist": true}'
    return b'{"first_name": "\\ud800' + draw(st.text(max_size=5)).encode() + b'"}'


CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "text/plain", None]


@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=raw_bodies(), content_type=st.sampled_from(CONTENT_TYPES))
def test_no_body_is_ever_a_server_error(client, method, path, body, content_type):
    headers = {"Content-Type": content_type} if content_type else {}

    response = client.open(path, method=method, data=body, headers=headers)

    assert 400 <= response.status_code < 500, (response.status_code, body[:200])
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == response.status_code


@pytest.mark.parametrize("depth", [1_000, 50_000])
def test_deep_nesting_is_400_malformed_json(client, depth):
    response = client.post("/students", data=nested(depth), content_type="application/json")

    assert_problem(response, 400, "malformed-json")


@pytest.mark.parametrize(
    "body",
    [b'{"course_id": ' + b"1" * 5000 + b"}", b'{"course_id": 1e999}', b'{"course_id": NaN}'],
)
def test_huge_and_non_finite_numbers_are_4xx(client, body):
    response = client.post("/students/999/courses", data=body, content_type="application/json")

    assert response.status_code in (400, 422)
    assert not math.isnan(response.get_json()["status"])
