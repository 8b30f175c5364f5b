"""The HTTP layer: flask-smorest's Api and Blueprint, adapted to this service's conventions.

- Path ids use the ``id`` converter: 1 to 2**31-1, anything else is a 404 (the
  OpenAPI document states the bounds).
- A JSON body must be sent as JSON: any other content type is a 415.
- Error responses are documented as ``application/problem+json`` with ``ProblemSchema``.
- Views state who besides admins may call them (``Blueprint.allow``; see ``src.auth``) or
  that they are public (``Blueprint.public``).
"""

from __future__ import annotations

import http
from collections.abc import Callable
from typing import Any

import flask
import flask_smorest
from flask_smorest.utils import prepare_response
from webargs import core
from webargs.flaskparser import FlaskParser, abort, is_json_request
from werkzeug.exceptions import UnsupportedMediaType
from werkzeug.routing import IntegerConverter

from src import auth
from src.error_handling import PROBLEM_CONTENT_TYPE
from src.fields import MAX_INT32
from src.schemas import ProblemSchema


class IdConverter(IntegerConverter):
    """A path id: a positive integer that fits the database's ``integer`` columns."""

    def __init__(self, map: Any) -> None:  # noqa: A002 - werkzeug's signature
        super().__init__(map, min=1, max=MAX_INT32)


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= char <= "\udfff" for char in value)
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(item) for item in value)
    return False


class JSONParser(FlaskParser):
    """webargs' Flask parser, stricter about what counts as a JSON body.

    A body that is not declared as JSON is a 415 (not a silent empty object); an
    empty body, or one with escaped unpaired surrogates (``"\\ud800"``, which no
    database can store), is malformed JSON: 400.
    """

    def _raw_load_json(self, req: flask.Request) -> Any:
        if not is_json_request(req):
            raise UnsupportedMediaType(
                "The request body must be JSON (Content-Type: application/json)."
            )
        raw = req.get_data(cache=True)
        if not raw.strip():
            abort(400, messages={"json": ["The request body is empty."]})
        data = core.parse_json(raw)
        if _has_lone_surrogate(data):
            abort(400, messages={"json": ["The request body has unpaired surrogates."]})
        return data


class Blueprint(flask_smorest.Blueprint):
    """A flask-smorest Blueprint that parses bodies with :class:`JSONParser` and
    documents problem responses."""

    ARGUMENTS_PARSER = JSONParser()

    def problem(self, status: int, *slugs: str) -> Callable[[Any], Any]:
        """Document an error response of ``status`` with the problem slugs it can carry."""
        description = http.HTTPStatus(status).phrase
        if slugs:
            description += ": " + ", ".join(f"`{slug}`" for slug in slugs)
        return self.alt_response(
            status,
            schema=ProblemSchema,
            content_type=PROBLEM_CONTENT_TYPE,
            description=description,
        )

    def allow(self, *grants: auth.Grant) -> Callable[[Any], Any]:
        """Who besides admins may call this view (see ``src.auth``); documents the 401,
        403 and 429 every authenticated call can meet.

        A view without ``allow`` is for admins only.
        """

        def decorator(view: Any) -> Any:
            view = auth.allow(*grants)(view)
            view = self.problem(401, "unauthorized")(view)
            view = self.problem(403, "forbidden")(view)
            return self.problem(429, "too-many-requests")(view)

        return decorator

    def public(self, view: Any) -> Any:
        """Document a view that needs no API key (it must be in ``auth.PUBLIC_ENDPOINTS``)."""
        return self.doc(security=[])(view)

    def arguments(self, schema: Any, *, location: str = "json", **kwargs: Any) -> Any:
        """flask-smorest's ``arguments``; a JSON body also documents its 400, 413 and 415."""
        parse = super().arguments(schema, location=location, **kwargs)
        if location != "json":
            return parse

        def decorator(view: Any) -> Any:
            view = parse(view)
            view = self.problem(400, "malformed-json")(view)
            view = self.problem(413, "request-entity-too-large")(view)
            return self.problem(415, "unsupported-media-type")(view)

        return decorator


class Api(flask_smorest.Api):
    """flask-smorest's Api, documenting errors as RFC 9457 problem details."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Unexpected error", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)


def link(path: str, method: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link to the operation ``method path``, with runtime-expression parameters.

    A parameter named ``requestBody`` fills the target's body instead of a parameter.
    """
    pointer = path.replace("~", "~0").replace("/", "~1")
    target: dict[str, Any] = {"operationRef": f"#/paths/{pointer}/{method.lower()}"}
    body = parameters.pop("requestBody", None)
    if parameters:
        target["parameters"] = parameters
    if body is not None:
        target["requestBody"] = body
    return target


#: Headers of every paginated list, documented once.
LIST_HEADERS = {
    "X-Total-Count": {
        "description": "Number of items in the whole list.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Link": {
        "description": "RFC 8288 links to the first, prev, next and last pages.",
        "schema": {"type": "string"},
    },
}
#: Header of every 201 response.
LOCATION_HEADER = {
    "Location": {"description": "URL of the created resource.", "schema": {"type": "string"}}
}
