"""Conditional requests on students and courses: ETag, If-None-Match and If-Match."""

from __future__ import annotations

import pytest

from tests.conftest import assert_problem


@pytest.fixture(params=["student", "course"])
def resource(request, make_student, make_course):
    """The path of a student or a course, and a change to make to it."""
    if request.param == "student":
        return f"/students/{make_student()['id']}", {"last_name": "Byron"}
    return f"/courses/{make_course(capacity=5)['id']}", {"capacity": 6}


def test_a_read_carries_a_strong_etag_that_changes_with_the_resource(client, resource):
    path, change = resource

    first = client.get(path)
    again = client.get(path)
    patched = client.patch(path, json=change)
    after = client.get(path)

    etag = first.headers["ETag"]
    assert etag.startswith('"')  # strong: a weak tag starts with W/
    assert again.headers["ETag"] == etag
    assert patched.headers["ETag"] == after.headers["ETag"] != etag


def test_if_none_match_with_the_current_etag_is_304_without_a_body(client, resource):
    path, change = resource
    etag = client.get(path).headers["ETag"]

    not_modified = client.get(path, headers={"If-None-Match": etag})

    assert not_modified.status_code == 304
    assert not_modified.get_data() == b""
    assert not_modified.headers["ETag"] == etag
    client.patch(path, json=change)
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 200


def test_if_none_match_compares_weakly_as_rfc_9110_says(client, resource):
    path, change = resource
    etag = client.get(path).headers["ETag"]

    weak = client.get(path, headers={"If-None-Match": f"W/{etag}"})
    among = client.get(path, headers={"If-None-Match": f'"other", W/{etag}'})
    anything = client.get(path, headers={"If-None-Match": "*"})

    assert [weak.status_code, among.status_code, anything.status_code] == [304, 304, 304]
    assert weak.headers["ETag"] == etag
    client.patch(path, json=change)
    assert client.get(path, headers={"If-None-Match": f"W/{etag}"}).status_code == 200


def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(client, resource):
    path, change = resource
    stale = client.get(path).headers["ETag"]
    client.patch(path, json=change)  # another registrar's edit
    current = client.get(path).get_json()

    other = {name: 7 if name == "capacity" else "Other" for name in change}
    response = client.patch(path, json=other, headers={"If-Match": stale})

    assert_problem(response, 412, "precondition-failed")
    assert client.get(path).get_json() == current


def test_patch_with_the_current_if_match_applies(client, resource):
    path, change = resource
    etag = client.get(path).headers["ETag"]

    response = client.patch(path, json=change, headers={"If-Match": etag})

    assert response.status_code == 200
    assert response.headers["ETag"] != etag
    assert client.patch(path, json=change, headers={"If-Match": "*"}).status_code == 200


def test_delete_with_a_stale_if_match_is_412_and_keeps_the_resource(client, resource):
    path, change = resource
    stale = client.get(path).headers["ETag"]
    client.patch(path, json=change)

    assert_problem(client.delete(path, headers={"If-Match": stale}), 412, "precondition-failed")
    assert client.get(path).status_code == 200
    current = client.get(path).headers["ETag"]
    assert client.delete(path, headers={"If-Match": current}).status_code == 204
    assert client.get(path).status_code == 404


def test_without_if_match_changes_work_as_before(client, resource):
    path, change = resource

    assert client.patch(path, json=change).status_code == 200
    assert client.delete(path).status_code == 204
