"""The service conforms to its own OpenAPI document under generated input.

schemathesis runs in process against the app (``from_wsgi``), with every default
check and all four phases: examples, coverage, fuzzing and stateful sequences
chained through the document's links. Any failure fails the test, with
schemathesis's reproduction code.

Bounded for CI: a fixed seed and ``CONTRACT_MAX_EXAMPLES`` examples per operation.
A longer, unseeded session: ``CONTRACT_SEED=random CONTRACT_MAX_EXAMPLES=500 make test``
(or ``.venv/bin/pytest tests/contract`` with the same variables).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from flask import Flask
from schemathesis.engine import Status, events
from schemathesis.engine import from_schema as engine_for
from schemathesis.engine.run import PhaseName
from schemathesis.transport.wsgi import WSGITransport

from src.database import db
from tests.conftest import empty_tables, make_app, new_key

SEED = os.environ.get("CONTRACT_SEED", "20231001")
MAX_EXAMPLES = int(os.environ.get("CONTRACT_MAX_EXAMPLES", "25"))


@pytest.fixture
def contract_app(database_url: str) -> Iterator[Flask]:
    """The app as deployed, without pytest-flask's pushed context: every request
    schemathesis sends gets and ends its own database session, as in production."""
    app = make_app(database_url)
    key = new_key(app)
    app.config["CONTRACT_KEY"] = key
    yield app
    with app.app_context():
        empty_tables()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _drop_socket_options_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # Works around a schemathesis 4.32.5 bug, so that its `ignored_auth` check can run
    # in process: that check re-sends a request with the run's transport options,
    # including `max_redirects`, which the WSGI transport strips only when it is handed
    # a requests session (transport/wsgi.py); werkzeug's client then raises TypeError.
    # Dropping the socket-level options it drops itself changes nothing else.
    send = WSGITransport.send

    def send_without_socket_options(self, case, *, session=None, **kwargs):  # type: ignore[no-untyped-def]
        for name in ("max_redirects", "verify", "cert", "proxies"):
            kwargs.pop(name, None)
        return send(self, case, session=session, **kwargs)

    monkeypatch.setattr(WSGITransport, "send", send_without_socket_options)


def _config(key: str) -> schemathesis.Config:
    settings: dict = {
        "headers": {"Authorization": f"Bearer {key}"},
        "generation": {"max-examples": MAX_EXAMPLES},
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            # Stateful sequences follow the document's own links. schemathesis can also
            # infer links (from Location headers and parameter names), but an inferred
            # POST /students -> POST /students/{id}/courses fills only the path, so a
            # 404 course-not-found for the generated course_id in the body reads to its
            # ensure_resource_availability check as "the new student is missing".
            "stateful": {"enabled": True, "max-steps": 20, "inference": {"algorithms": []}},
        },
        "checks": {
            "enabled": True,
            # A generated If-Match cannot match the resource's ETag: 412 is the right
            # answer to schema-valid data there.
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "412", "429"]
            },
        },
        "operations": [
            {
                # Rules between fields, which JSON Schema cannot state and the
                # descriptions do: a term's dates in order, a meeting ending after it
                # starts, an override's reason given with it and only with it.
                # Schema-valid data may break them: 422 names the field.
                "include-operation-id": [
                    "createTerm",
                    "updateTerm",
                    "createCourse",
                    "updateCourse",
                    "enrollStudent",
                    "ensureEnrollment",
                    "checkEnrollment",
                ],
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": [
                            "2xx",
                            "3xx",
                            "401",
                            "403",
                            "404",
                            "409",
                            "412",
                            "422",
                            "429",
                        ]
                    }
                },
            },
            {
                # A feed cursor is opaque: any string fits the document, and only the
                # ones the service handed out are accepted (any other is a 422).
                "include-path": "/events",
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": [
                            "2xx",
                            "3xx",
                            "401",
                            "403",
                            "404",
                            "409",
                            "412",
                            "422",
                            "429",
                        ]
                    }
                },
            },
        ],
    }
    if SEED != "random":
        settings["seed"] = int(SEED)
    return schemathesis.Config.from_dict(settings)


def _failures(event: events.ScenarioFinished) -> list[str]:
    found = []
    for checks in event.recorder.checks.values():
        for check in checks:
            if check.status == Status.FAILURE and check.failure_info is not None:
                failure = check.failure_info.failure
                found.append(
                    f"[{event.phase}] {event.recorder.label}: {check.name}: {failure.title}\n"
                    f"{failure.message}\n{check.failure_info.code_sample}"
                )
    return found


def test_the_service_conforms_to_its_openapi_document(contract_app):
    schema = schemathesis.openapi.from_wsgi(
        "/openapi.json", contract_app, config=_config(contract_app.config["CONTRACT_KEY"])
    )

    failures: list[str] = []
    errors: list[str] = []
    passed: Counter[str] = Counter()
    for event in engine_for(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            if event.status == Status.SUCCESS:
                passed[event.phase] += 1
            failures.extend(_failures(event))
        elif isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            errors.append(repr(event.exception))

    assert not errors, "\n\n".join(errors)
    assert not failures, "\n\n".join(dict.fromkeys(failures))
    methods = {"get", "put", "post", "patch", "delete"}
    operations = sum(len(methods & set(ops)) for ops in schema.raw_schema["paths"].values())
    # Every operation passed in the coverage and fuzzing phases; stateful sequences ran.
    assert passed[PhaseName.COVERAGE] >= operations, passed
    assert passed[PhaseName.FUZZING] >= operations, passed
    assert passed[PhaseName.STATEFUL_TESTING] > 0, passed
