"""Every adaptation of Flask, flask-smorest and webargs, fenced in one module.

The rest of the service uses these classes as it would the frameworks' own. Public
hooks come first (``ARGUMENTS_PARSER``, ``ERROR_SCHEMA``, webargs' ``_raw_load_json``,
which its documentation names as the place to change how JSON is read); where none
exists, a method is overridden, and its docstring names the upstream behaviour it
changes. ``tests/test_framework.py`` pins each of those upstream behaviours, so an
upgrade that moves one fails a test instead of silently undoing the override.
"""

from __future__ import annotations

import functools
import http
import json
from collections.abc import Callable
from typing import Any

import flask
import flask_smorest
import marshmallow as ma
import orjson
from apispec import BasePlugin
from flask.json.provider import DefaultJSONProvider
from flask_smorest.exceptions import NotModified as SmorestNotModified
from flask_smorest.utils import prepare_response
from webargs import core
from webargs.flaskparser import FlaskParser, abort, is_json_request
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType
from werkzeug.routing import IntegerConverter

from src.auth import access
from src.endpoints import current_handler
from src.error_handling import PROBLEM_CONTENT_TYPE
from src.fields import MAX_INT32
from src.schemas import ItemizedProblemSchema, ProblemSchema


class IdConverter(IntegerConverter):
    """A path id (``<id:student_id>``): a positive integer that fits the database's
    ``integer`` columns, in ASCII digits without a leading zero; anything else is a 404.
    The OpenAPI document states the bounds.

    Upstream, an integer in the path is any run of Unicode digits (``\\d+``), so
    ``/students/01`` and ``/students/%D9%A1`` (an Arabic-Indic one) would both name
    student 1.
    """

    regex = r"[1-9][0-9]{0,9}"

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
    """webargs' Flask parser, stricter about what counts as a JSON body and a query.

    Upstream, unknown query parameters are dropped (``EXCLUDE``): a client that
    misspells a filter gets the whole list. Here they are a 422 naming them
    (``DEFAULT_UNKNOWN_BY_LOCATION``, webargs' public setting), and so is a parameter
    given twice where one value is expected (:meth:`load_querystring`).
    """

    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": ma.RAISE,
        "querystring": ma.RAISE,
    }

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

    def load_querystring(self, req: flask.Request, schema: ma.Schema) -> Any:
        """Upstream: a parameter given twice for a field of one value takes the first
        (``limit=6&limit=abc`` is 6). Here that is a 422."""
        args = req.args
        repeated = {
            name: ["Given more than once; give one value."]
            for name in args
            if len(args.getlist(name)) > 1 and not _takes_many(schema, name)
        }
        if repeated:
            raise ma.ValidationError(repeated)
        return super().load_querystring(req, schema)

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
        raw = _body(req)
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


def _body(req: flask.Request) -> bytes:
    """The request's body, at most ``MAX_CONTENT_LENGTH`` bytes, else a 413.

    werkzeug refuses a longer ``Content-Length`` before reading, but cuts a body sent
    without one (``Transfer-Encoding: chunked``, which gunicorn decodes) at the limit
    and gives the truncated rest as the body: here it is read one byte further, to know.
    """
    limit = req.max_content_length
    if req.content_length is None and limit is not None and "wsgi.input_terminated" in req.environ:
        data = req.environ["wsgi.input"].read(limit + 1)
        if len(data) > limit:
            raise RequestEntityTooLarge()
        return data
    return req.get_data(cache=True)


def _takes_many(schema: ma.Schema, name: str) -> bool:
    field = next((f for f in schema.fields.values() if (f.data_key or f.name) == name), None)
    return isinstance(field, ma.fields.List | ma.fields.Tuple)


#: Longest ``If-Match`` or ``If-None-Match`` the API reads: some twenty tags.
MAX_TAGS_LENGTH = 1024


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
        """Upstream: a PUT, PATCH or DELETE without ``If-Match`` is 428. Here it is not;
        an ``If-Match`` or ``If-None-Match`` longer than the document says is a 422."""
        too_long = {
            name: [f"Longer than {MAX_TAGS_LENGTH} characters."]
            for name in ("If-Match", "If-None-Match")
            if len(flask.request.headers.get(name, "")) > MAX_TAGS_LENGTH
        }
        if too_long:
            abort(422, messages={"headers": too_long})

    def _verify_check_etag(self) -> None:
        """Upstream: warns when a PUT, PATCH or DELETE view never called ``check_etag``.
        Here views check a tag only when the request sends one, so only then."""
        if flask.request.if_match:
            super()._verify_check_etag()

    def _check_not_modified(self, etag: str) -> None:
        """Upstream: raises a 304 that forgets the tag, and compares ``If-None-Match``
        strongly (``W/"…"`` never matches). Here the 304 carries the tag, for the error
        handler to repeat, and the comparison is weak, as RFC 9110 §13.1.2 says."""
        if flask.request.method in self.METHODS_CHECKING_NOT_MODIFIED and (
            flask.request.if_none_match.contains_weak(etag)
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

    def problem(
        self, status: int, *slugs: str, schema: Any = ProblemSchema
    ) -> Callable[[Any], Any]:
        """Document an error response of ``status`` with the problem slugs it can carry
        (in ``schema``, a problem with more fields)."""
        description = http.HTTPStatus(status).phrase
        if slugs:
            description += ": " + ", ".join(f"`{slug}`" for slug in slugs)
        return self.alt_response(
            status,
            schema=schema,
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

    def authenticates_itself(self, security: list[dict[str, list[str]]]) -> Any:
        """A view that authenticates its callers with ``security`` (as documented), not
        with API keys; rate limited like any other (``access.authenticates_itself``)."""

        def decorator(view: Any) -> Any:
            view = self.problem(429, "too-many-requests")(view)
            return self.doc(security=security)(access.authenticates_itself(view))

        return decorator

    def arguments(self, schema: Any, *, location: str = "json", **kwargs: Any) -> Any:
        """flask-smorest's ``arguments``; a JSON body also documents its 400, 413 and 415.
        A body that is not ``required`` may be left out (no body, no ``Content-Type``):
        the view gets ``{}``; one that is sent is read as any other."""
        # An instance, built once: given a class, webargs builds a schema per request.
        if isinstance(schema, type):
            schema = schema()
        parse = super().arguments(schema, location=location, **kwargs)
        if location == "query":
            return lambda view: _reads_query(parse(view))
        if location != "json":
            return parse

        def decorator(view: Any) -> Any:
            parsed = parse(view)
            if kwargs.get("required", True):
                view = parsed
            else:
                view = functools.wraps(parsed)(_unless_no_body(parsed, view))
            view = self.problem(400, "malformed-json")(view)
            view = self.problem(413, "request-entity-too-large")(view)
            return self.problem(415, "unsupported-media-type")(view)

        return decorator


def _unless_no_body(parsed: Any, view: Any) -> Callable[..., Any]:
    """``parsed`` (the view reading its body), or the ``view`` with ``{}`` when the
    request has no body at all."""

    def call(*args: Any, **kwargs: Any) -> Any:
        req = flask.request
        sent = req.content_length or "Transfer-Encoding" in req.headers or req.mimetype
        if sent:
            return parsed(*args, **kwargs)
        return view(*args, {}, **kwargs)

    return call


def _reads_query(view: Any) -> Any:
    view.reads_query = True
    return view


def refuse_unread_query() -> None:
    """A hook: a query string sent to a view of ours that reads none is a 422 naming its
    parameters (the views that read one refuse unknown parameters as they parse it)."""
    req = flask.request
    if not req.args or req.routing_exception is not None:
        return
    handler = current_handler()
    if hasattr(handler, "_apidoc") and not getattr(handler, "reads_query", False):
        messages = {name: ["Unknown field."] for name in req.args}
        abort(422, messages={"query": messages})


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
        # In RFC 9110's syntax: "tag", W/"tag", or *, comma-separated.
        tag = {"type": "string", "format": "http-entity-tags", "maxLength": MAX_TAGS_LENGTH}
        self.spec.components.header(
            "ETAG",
            {
                "description": "Strong entity tag of the representation.",
                "schema": {"type": "string", "maxLength": 64, "pattern": '^"[0-9a-f]+"$'},
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
                "schema": tag,
            },
            lazy=True,
        )
        self.spec.components.parameter(
            "IF_NONE_MATCH",
            "header",
            {
                "name": "If-None-Match",
                "description": "Answer 304 without a body if the ETag is one of these "
                "(compared weakly).",
                "schema": tag,
            },
            lazy=True,
        )

    def _register_responses(self) -> None:
        """Upstream: every status's response component is ``application/json``, with
        the error schema on successes too. Here errors (4xx, 5xx) are
        ``application/problem+json`` with :class:`ProblemSchema`, nothing else has a
        body schema, and each carries the headers :class:`ContractPlugin` documents
        (whose components are registered here, first)."""
        for name, header in RESPONSE_HEADERS.items():
            self.spec.components.header(name, header)
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
            response["headers"] = response_headers(status, limited=True)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Unexpected error", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
        response["headers"] = response_headers(500, limited=True)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)


#: The headers every response may carry, beside those its view documents: where the
#: caller stands on the rate limit (every limited response: ``src.ratelimit``), when
#: to retry (429, 503), and the CORS origin (answers to an allowed origin only).
_SECONDS = {"type": "integer", "format": "int32", "minimum": 0, "maximum": 86400}
RESPONSE_HEADERS: dict[str, dict[str, Any]] = {
    "RateLimit-Limit": {
        "description": "Requests allowed in the current window, of the limit nearest to "
        "refusing this caller (`RATE_LIMIT`).",
        "schema": {"type": "integer", "format": "int32", "minimum": 1, "maximum": MAX_INT32},
    },
    "RateLimit-Remaining": {
        "description": "Requests left in the current window.",
        "schema": {"type": "integer", "format": "int32", "minimum": 0, "maximum": MAX_INT32},
    },
    "RateLimit-Reset": {
        "description": "Seconds until the current window ends.",
        "schema": _SECONDS,
    },
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": _SECONDS},
    "Access-Control-Allow-Origin": {
        "description": "The calling origin, when it is one of `CORS_ORIGINS` (browsers only).",
        "schema": {"type": "string", "format": "uri", "maxLength": 2048},
    },
}


def response_headers(status: int, *, limited: bool) -> dict[str, str]:
    """The headers of :data:`RESPONSE_HEADERS` a response of ``status`` carries, as
    references to their components."""
    names = ["Access-Control-Allow-Origin"]
    if limited and 200 <= status < 500:
        names += ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"]
    if status in (429, 503):
        names.append("Retry-After")
    return {name: name for name in names}


#: The longest list a response holds: a page of ``limit`` 100 at most.
MAX_PAGE = 100


class ContractPlugin(BasePlugin):
    """Document what every operation can answer beside what its view declares: a 500
    (any operation can meet a bug), a 422 (an unknown query parameter, on every
    operation: ``refuse_unread_query``), on every response the headers of
    :data:`RESPONSE_HEADERS` (the rate limit's only where the operation is limited:
    public ones are not), and the length of every list a response holds."""

    def operation_helper(
        self, path: str | None = None, operations: dict | None = None, **kwargs: Any
    ) -> None:
        """Add the responses and headers to each of the path's ``operations``."""
        for operation in (operations or {}).values():
            limited = operation.get("security") != []
            responses = operation.setdefault("responses", {})
            codes = {str(code) for code in responses}
            if "500" not in codes:
                responses[500] = _problem_doc(500, "internal-error", limited=limited)
            if "422" not in codes and "400" not in codes:
                responses[422] = _problem_doc(422, "validation-error", limited=limited)
            for code, response in responses.items():
                if isinstance(response, dict) and str(code).isdigit():
                    headers = response.setdefault("headers", {})
                    for name, ref in response_headers(int(code), limited=limited).items():
                        headers.setdefault(name, ref)
                    for media in response.get("content", {}).values():
                        schema = media.get("schema")
                        if isinstance(schema, dict) and schema.get("type") == "array":
                            schema.setdefault("maxItems", MAX_PAGE)


def _problem_doc(status: int, slug: str, *, limited: bool) -> dict[str, Any]:
    return {
        "description": f"{http.HTTPStatus(status).phrase}: `{slug}`",
        "content": {PROBLEM_CONTENT_TYPE: {"schema": "Problem"}},
        "headers": response_headers(status, limited=limited),
    }


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON, written by orjson, as the hot paths' bodies are.

    Upstream, Flask's JSON is the standard library's with ``ensure_ascii``: a single
    read escaped ``"\u00c4"`` where lists sent UTF-8. Here every body is orjson's UTF-8,
    compact (indented only in debug), keys in the schemas' order unless asked to sort
    them (flask-smorest's ETags do).
    """

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """``obj`` as JSON text; ``sort_keys`` and ``indent`` as the standard library's."""
        option = orjson.OPT_NON_STR_KEYS
        if kwargs.get("sort_keys"):
            option |= orjson.OPT_SORT_KEYS
        if kwargs.get("indent"):
            option |= orjson.OPT_INDENT_2
        try:
            return orjson.dumps(obj, default=self.default, option=option).decode()
        except TypeError:  # what orjson cannot write (an integer past 64 bits), json can
            return json.dumps(
                obj,
                default=self.default,
                ensure_ascii=False,
                sort_keys=bool(kwargs.get("sort_keys")),
                indent=2 if kwargs.get("indent") else None,
                separators=None if kwargs.get("indent") else (",", ":"),
            )

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """JSON text as Python."""
        return orjson.loads(s)


class Registrar(flask.Flask):
    """Flask, writing its JSON with :class:`OrjsonProvider`."""

    json_provider_class = OrjsonProvider
