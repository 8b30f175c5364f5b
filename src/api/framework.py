"""Every adaptation of Flask, flask-smorest and webargs, fenced in one module.

The rest of the service uses these classes as it would the frameworks' own. Public
hooks come first (``ARGUMENTS_PARSER``, ``ERROR_SCHEMA``, webargs' ``_raw_load_json``,
which its documentation names as the place to change how JSON is read); where none
exists, a method is overridden, and its docstring names the upstream behaviour it
changes. ``tests/test_framework.py`` pins each of those upstream behaviours, so an
upgrade that moves one fails a test instead of silently undoing the override.
"""

from __future__ import annotations

import http
from collections.abc import Callable
from typing import Any

import flask
import flask_smorest
from flask_smorest.exceptions import NotModified as SmorestNotModified
from flask_smorest.utils import prepare_response
from webargs import core
from webargs.flaskparser import FlaskParser, abort, is_json_request
from werkzeug.exceptions import UnsupportedMediaType
from werkzeug.routing import IntegerConverter

from src.auth import access
from src.error_handling import PROBLEM_CONTENT_TYPE
from src.fields import MAX_INT32
from src.schemas import ItemizedProblemSchema, ProblemSchema


class IdConverter(IntegerConverter):
    """A path id (``<id:student_id>``): a positive integer that fits the database's
    ``integer`` columns; anything else is a 404. The OpenAPI document states the bounds."""

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
    """webargs' Flask parser, stricter about what counts as a JSON body."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._defaults: dict[Any, dict[str, Any]] = {}

    def parse(
        self, argmap: Any, req: Any = None, *, location: str | None = None, **kwargs: Any
    ) -> Any:
        """webargs' ``parse``; a query without a query string (every list's first page)
        loads the schema's defaults once, and each request gets a copy."""
        # webargs' decorators pass no request: theirs is the default one.
        current = req if req is not None else self.get_default_request()
        if location == "query" and not current.query_string:
            defaults = self._defaults.get(argmap)
            if defaults is None:
                defaults = super().parse(argmap, req, location=location, **kwargs)
                self._defaults[argmap] = defaults
            return dict(defaults)
        return super().parse(argmap, req, location=location, **kwargs)

    def _raw_load_json(self, req: flask.Request) -> Any:
        """Upstream: a body not declared as JSON is read as missing (an empty object
        for the schema), and a body that is not JSON is a 400 from its parser. Here a
        body not declared as JSON is a 415, not a silent empty object; an empty body,
        one with escaped unpaired surrogates (``"\\ud800"``, which no database can
        store), an integer of more than 4,300 digits or nesting deeper than the
        interpreter's stack is malformed JSON: 400."""
        if not is_json_request(req):
            raise UnsupportedMediaType(
                "The request body must be JSON (Content-Type: application/json)."
            )
        raw = req.get_data(cache=True)
        if not raw.strip():
            abort(400, messages={"json": ["The request body is empty."]})
        try:
            data = core.parse_json(raw)
            surrogates = _has_lone_surrogate(data)
        except (ValueError, RecursionError):
            abort(400, messages={"json": ["The request body is not valid JSON."]})
        if surrogates:
            abort(400, messages={"json": ["The request body has unpaired surrogates."]})
        return data


class NotModified(SmorestNotModified):
    """A 304, carrying the entity tag it must repeat (RFC 9110 §15.4.5)."""

    def __init__(self, etag: str) -> None:
        super().__init__()
        self.etag = etag


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint, with this service's conventions.

    - Bodies are parsed by :class:`JSONParser`; a JSON body also documents its 400,
      413 and 415.
    - ``If-Match`` is optional: a client that sends none changes the resource as
      before, and one that sends a stale tag gets 412 and changes nothing
      (:meth:`precondition` runs under the resource's row lock). flask-smorest's ETags
      themselves (``Blueprint.etag``) are kept: strong tags of the representation,
      and ``If-None-Match`` → 304.
    - Errors are documented as ``application/problem+json`` (:meth:`problem`,
      :meth:`itemized`).
    - Views state who besides admins may call them (:meth:`allow`), that only admins
      may (:meth:`admins_only`), or that they are public (:meth:`public`): one
      decorator, read by the authorization hooks (``src.auth.access``) and documented.
    """

    ARGUMENTS_PARSER = JSONParser()

    def _check_precondition(self) -> None:
        """Upstream: a PUT, PATCH or DELETE without ``If-Match`` is 428. Here it is not."""

    def _verify_check_etag(self) -> None:
        """Upstream: warns when a PUT, PATCH or DELETE view never called ``check_etag``.
        Here views check a tag only when the request sends one, so only then."""
        if flask.request.if_match:
            super()._verify_check_etag()

    def _check_not_modified(self, etag: str) -> None:
        """Upstream: raises a 304 that forgets the tag. Here the 304 carries it, for
        the error handler to repeat."""
        if flask.request.method in self.METHODS_CHECKING_NOT_MODIFIED and (
            etag in flask.request.if_none_match
        ):
            raise NotModified(etag)

    def _prepare_etag_doc(self, doc: dict, doc_info: dict, **kwargs: Any) -> dict:
        """Upstream: documents a 428 on every ETag'd PUT, PATCH and DELETE. Here there
        is none."""
        doc = super()._prepare_etag_doc(doc, doc_info, **kwargs)
        doc.get("responses", {}).pop(428, None)
        return doc

    def precondition(self, schema: Any) -> Callable[[Any], None] | None:
        """The ``If-Match`` check of this request against a resource dumped by ``schema``,
        for the service to run under its lock; ``None`` when the request sends none."""
        if not flask.request.if_match:
            return None
        return lambda resource: self.check_etag(resource, schema)

    def alt_response(self, status_code: int, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        """Upstream: wraps the view in a call layer that only documents. Here the
        documentation is added to the view itself: every layer is a call per request."""
        document = super().alt_response(status_code, *args, **kwargs)

        def decorator(view: Any) -> Any:
            view._apidoc = document(view)._apidoc
            return view

        return decorator

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

    def itemized(self, field: str, *statuses: int) -> Callable[[Any], Any]:
        """Report this view's errors item by item of the list ``field`` of its body:
        ``errors`` is ``[{"index", "type", "detail"}]``, for validation (422) and for the
        ``statuses`` the view's domain errors carry."""

        def decorator(view: Any) -> Any:
            view.itemized_errors = field
            for status in (*statuses, 422):
                view = self.alt_response(
                    status,
                    schema=ItemizedProblemSchema,
                    content_type=PROBLEM_CONTENT_TYPE,
                    description=http.HTTPStatus(status).phrase + ": every failing item",
                )(view)
            return view

        return decorator

    def _authenticated(self, view: Any) -> Any:
        """Document the 401, 403 and 429 every authenticated call can meet."""
        view = self.problem(401, "unauthorized")(view)
        view = self.problem(403, "forbidden")(view)
        return self.problem(429, "too-many-requests")(view)

    def allow(self, *grants: access.Grant) -> Callable[[Any], Any]:
        """Who besides admins may call this view (see ``src.auth.access``)."""

        def decorator(view: Any) -> Any:
            return self._authenticated(access.allow(*grants)(view))

        return decorator

    def admins_only(self, view: Any) -> Any:
        """A view for admins alone."""
        return self._authenticated(access.admins_only(view))

    def public(self, view: Any) -> Any:
        """A view that needs no API key; the mark is what ``access.is_public`` reads."""
        return self.doc(security=[])(access.public(view))

    def arguments(self, schema: Any, *, location: str = "json", **kwargs: Any) -> Any:
        """flask-smorest's ``arguments``; a JSON body also documents its 400, 413 and 415."""
        # An instance, built once: given a class, webargs builds a schema per request.
        if isinstance(schema, type):
            schema = schema()
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

    def _register_pagination_header(self) -> None:
        """Upstream: registers the ``X-Pagination`` header of its own pagination, with
        its ``PaginationMetadata`` schema. Here lists answer with ``X-Total-Count`` and
        ``Link`` (``LIST_HEADERS``): nothing to register."""

    def _register_etag_headers(self) -> None:
        """Upstream: ``If-Match`` is a required parameter. Here it is optional, and the
        three ETag components say what they do here."""
        self.spec.components.header(
            "ETAG",
            {
                "description": "Strong entity tag of the representation.",
                "schema": {"type": "string"},
            },
            lazy=True,
        )
        self.spec.components.parameter(
            "IF_MATCH",
            "header",
            {
                "name": "If-Match",
                "description": "Change only if the resource's current ETag is one of these; "
                "else 412 and nothing changes.",
                "schema": {"type": "string"},
            },
            lazy=True,
        )
        self.spec.components.parameter(
            "IF_NONE_MATCH",
            "header",
            {
                "name": "If-None-Match",
                "description": "Answer 304 without a body if the ETag is one of these.",
                "schema": {"type": "string"},
            },
            lazy=True,
        )

    def _register_responses(self) -> None:
        """Upstream: every status's response component is ``application/json``, with
        the error schema on successes too. Here errors (4xx, 5xx) are
        ``application/problem+json`` with :class:`ProblemSchema`, and nothing else has
        a body schema."""
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Unexpected error", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)


class Registrar(flask.Flask):
    """Flask, remembering which functions need no async adapter.

    Upstream, Flask asks ``inspect`` whether each hook and view is a coroutine
    function on every request (flask-smorest asks again for each of its wrappers):
    some twenty questions a request whose answers never change. Here each answer is
    kept per function.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._synced: dict[Any, Any] = {}

    def ensure_sync(self, func: Any) -> Any:
        """Flask's ``ensure_sync``, its answer kept per function."""
        try:
            return self._synced[func]
        except KeyError:
            synced = super().ensure_sync(func)
            if len(self._synced) < 10_000:  # a bound on callables made per request
                self._synced[func] = synced
            return synced
        except TypeError:  # an unhashable callable
            return super().ensure_sync(func)
