"""Each override in ``src.api.framework`` changes an upstream behaviour: these tests pin
that behaviour in the upstream classes themselves, so an upgrade that moves it (and
would silently undo or break the override) fails here, and pin ours beside it."""

from __future__ import annotations

import warnings
from typing import Any

import flask
import flask_smorest
import pytest
from flask.views import MethodView
from flask_smorest.exceptions import NotModified as UpstreamNotModified
from marshmallow import Schema, fields
from webargs import core
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import UnsupportedMediaType

from src.api import framework


class ItemSchema(Schema):
    """A resource of the small apps below."""

    name = fields.String()


def small_app(api_class: type, blueprint_class: type) -> tuple[flask.Flask, Any]:
    """An app with one ETag'd resource (GET, PATCH), built with the given classes."""
    app = flask.Flask(__name__)
    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.0.3", TESTING=True)
    api = api_class(app)
    blp = blueprint_class("items", __name__)

    @blp.route("/items/1")
    @blp.etag
    class Item(MethodView):
        @blp.response(200, ItemSchema)
        def get(self) -> Any:
            return {"name": "one"}

        @blp.arguments(ItemSchema)
        @blp.response(200, ItemSchema)
        def patch(self, data: dict[str, Any]) -> Any:
            # Our views check a tag only when one is sent (Blueprint.precondition).
            if blueprint_class is flask_smorest.Blueprint or flask.request.if_match:
                blp.check_etag({"name": "one"}, ItemSchema)
            return data

    api.register_blueprint(blp)
    return app, api


def patch_doc(api: Any) -> dict[str, Any]:
    return api.spec.to_dict()["paths"]["/items/1"]["patch"]


# -- Blueprint ------------------------------------------------------------------------


def test_upstream_requires_if_match_and_ours_does_not():
    upstream, _ = small_app(flask_smorest.Api, flask_smorest.Blueprint)
    ours, _ = small_app(framework.Api, framework.Blueprint)

    assert upstream.test_client().patch("/items/1", json={"name": "x"}).status_code == 428
    # Ours: no tag sent, so no check (Blueprint._verify_check_etag) and no 428.
    assert ours.test_client().patch("/items/1", json={"name": "x"}).status_code == 200


def test_upstream_warns_when_a_view_checks_no_tag():
    blp = flask_smorest.Blueprint("items", __name__)
    with flask.Flask(__name__).test_request_context(method="PATCH"):
        with pytest.warns(UserWarning, match="ETag not checked"):
            blp._verify_check_etag()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            framework.Blueprint("items", __name__)._verify_check_etag()  # no If-Match: quiet


def test_upstream_304_forgets_the_tag_and_ours_carries_it():
    with flask.Flask(__name__).test_request_context(headers={"If-None-Match": '"abc"'}):
        with pytest.raises(UpstreamNotModified) as upstream:
            flask_smorest.Blueprint("items", __name__)._check_not_modified("abc")
        with pytest.raises(framework.NotModified) as ours:
            framework.Blueprint("items", __name__)._check_not_modified("abc")
    assert not hasattr(upstream.value, "etag")
    assert ours.value.etag == "abc"


def test_upstream_documents_a_428_and_ours_does_not():
    _, upstream = small_app(flask_smorest.Api, flask_smorest.Blueprint)
    _, ours = small_app(framework.Api, framework.Blueprint)

    assert "428" in patch_doc(upstream)["responses"]
    assert "428" not in patch_doc(ours)["responses"]
    assert "412" in patch_doc(ours)["responses"]


# -- Api ------------------------------------------------------------------------------


def test_upstream_registers_its_pagination_metadata_and_ours_does_not():
    _, upstream = small_app(flask_smorest.Api, flask_smorest.Blueprint)
    _, ours = small_app(framework.Api, framework.Blueprint)

    assert "PaginationMetadata" in upstream.spec.to_dict()["components"]["schemas"]
    assert "PaginationMetadata" not in ours.spec.to_dict()["components"].get("schemas", {})


def test_upstream_makes_if_match_required_and_ours_optional():
    _, upstream = small_app(flask_smorest.Api, flask_smorest.Blueprint)
    _, ours = small_app(framework.Api, framework.Blueprint)

    def if_match(api: Any) -> dict[str, Any]:
        return api.spec.to_dict()["components"]["parameters"]["IF_MATCH"]

    assert if_match(upstream)["required"] is True
    assert "required" not in if_match(ours)


def test_upstream_documents_errors_as_json_and_ours_as_problems():
    _, upstream = small_app(flask_smorest.Api, flask_smorest.Blueprint)
    _, ours = small_app(framework.Api, framework.Blueprint)

    def precondition_failed(api: Any) -> dict[str, Any]:
        return api.spec.to_dict()["components"]["responses"]["PRECONDITION_FAILED"]["content"]

    assert list(precondition_failed(upstream)) == ["application/json"]
    assert list(precondition_failed(ours)) == ["application/problem+json"]


# -- webargs and Flask ----------------------------------------------------------------


def test_upstream_reads_a_body_not_sent_as_json_as_missing_and_ours_refuses_it():
    app = flask.Flask(__name__)
    with app.test_request_context(method="POST", data="name=x", content_type="text/plain"):
        assert FlaskParser()._raw_load_json(flask.request) is core.missing
        with pytest.raises(UnsupportedMediaType):
            framework.JSONParser()._raw_load_json(flask.request)


def test_upstream_load_json_reads_the_body_through_raw_load_json(monkeypatch):
    parser = FlaskParser()
    monkeypatch.setattr(parser, "_raw_load_json", lambda _req: {"name": "through the hook"})
    with flask.Flask(__name__).test_request_context(method="POST"):
        assert parser.load_json(flask.request, ItemSchema()) == {"name": "through the hook"}


def test_ours_writes_json_as_the_hot_paths_do(app):
    with app.app_context():
        assert flask.json.dumps({"name": "Äda"}) == '{"name":"Äda"}'  # UTF-8, compact
        assert flask.json.dumps({"b": 1, "a": 2}, sort_keys=True) == '{"a":2,"b":1}'
        assert flask.json.dumps({"n": 10**30}) == '{"n":1000000000000000000000000000000}'
