"""The HTTP layer: one blueprint per resource, on flask-smorest.

Views parse the request (the schemas of ``src.schemas``), call one domain operation
(``src.services``), and return what it gives; errors are exceptions, answered by
``src.error_handling``. Framework adaptations live in ``src.api.framework`` alone.

- Path ids use the ``id`` converter: 1 to 2**31-1, anything else is a 404.
- Every operation has a stable, verb-first ``operationId`` (``@blp.doc(operationId=...)``):
  generated clients name their functions after it, so changing one breaks them.
"""

from __future__ import annotations

from typing import Any

from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from marshmallow import fields

from src.api.framework import Api, ContractPlugin, IdConverter, refuse_unread_query
from src.fields import MAX_INT32

#: The OpenAPI document's ``info``, beside its title and version.
API_INFO = {
    "description": (
        "A registrar's REST API: students, courses, enrollments with a race-free capacity "
        "rule, waitlists with automatic promotion, bulk enrollment, and an exactly-once "
        "change feed. Every error is an RFC 9457 problem (`application/problem+json`); every "
        "request but the health checks needs `Authorization: Bearer <API key>`."
    ),
    "contact": {"name": "Registrar API maintainers", "email": "registrar-api@example.edu"},
    "license": {"name": "Proprietary", "url": "https://registrar.example.edu/license"},
}


def _schema_name(schema: Any) -> str:
    # Create and partial-update instances of one schema class get distinct names in the
    # OpenAPI document (StudentUpdate has no required fields).
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__.removesuffix("Schema")
    partial = getattr(schema, "partial", False) and not name.endswith("Update")
    return name + "Update" if partial else name


def init_app(app: Flask) -> Api:
    """Register every blueprint, and the OpenAPI document generated from them."""
    from src.api import (
        courses,
        docs,
        enrollments,
        events,
        health,
        instructors,
        oauth,
        oneroster,
        registration,
        students,
        terms,
    )

    app.url_map.converters["id"] = IdConverter
    app.before_request(refuse_unread_query)
    api = Api(
        app,
        spec_kwargs={
            "marshmallow_plugin": MarshmallowPlugin(schema_name_resolver=_schema_name),
            "extra_plugins": [ContractPlugin()],
            "security": [{"bearerAuth": []}],
            "info": API_INFO,
            # Relative: the document is served by the API it describes, wherever it runs.
            "servers": [
                {
                    "url": "/",
                    "description": "This server, in whichever environment it runs: local, "
                    "staging or production",
                    "x-internal": False,
                }
            ],
        },
    )
    # Every integer of this API fits PostgreSQL's integer; path ids are 1 to 2**31-1.
    api.register_field(fields.Integer, "integer", "int32")
    api.register_converter(
        IdConverter,
        lambda _: {"type": "integer", "format": "int32", "minimum": 1, "maximum": MAX_INT32},
    )
    api.spec.components.security_scheme(
        "bearerAuth",
        {"type": "http", "scheme": "bearer", "description": "An API key: `reg_<prefix>_<secret>`."},
    )
    api.spec.components.security_scheme(
        "oauthClientBasic",
        {
            "type": "http",
            "scheme": "basic",
            "description": "An OAuth client's `client_id:client_secret` (RFC 6749 §2.3.1), at "
            "the token endpoint only.",
        },
    )
    for module in (
        health,
        terms,
        students,
        registration,
        courses,
        instructors,
        enrollments,
        events,
        oauth,
    ):
        api.register_blueprint(module.blp)
    app.register_blueprint(docs.blp)
    app.register_blueprint(oneroster.blp)
    return api


def link(operation_id: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link to the operation ``operation_id``, with runtime-expression
    parameters. A parameter named ``requestBody`` fills the target's body instead."""
    target: dict[str, Any] = {"operationId": operation_id}
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
        "schema": {"type": "integer", "format": "int32", "minimum": 0, "maximum": MAX_INT32},
    },
    "Link": {
        "description": "RFC 8288 links to the first, prev, next and last pages.",
        "schema": {"type": "string", "maxLength": 20000, "pattern": "^<"},
    },
}
#: Header of every 201 response.
LOCATION_HEADER = {
    "Location": {
        "description": "URL of the created resource.",
        "schema": {"type": "string", "format": "uri-reference", "maxLength": 4096},
    }
}
