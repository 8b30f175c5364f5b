"""The registrar's REST API: students, courses and enrollments."""

from __future__ import annotations

from typing import Any

from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask

from src import cli, error_handling, observability
from src.config import INSTANCE_PATH, engine_options, load_config
from src.extensions import db


def _schema_name(schema: Any) -> str:
    # Create and partial-update instances of one schema class get distinct names in the
    # OpenAPI document (StudentUpdate has no required fields).
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__.removesuffix("Schema")
    return name + "Update" if getattr(schema, "partial", False) else name


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Create the Flask app; ``config`` overrides the settings read from the environment."""
    app = Flask(__name__, instance_path=str(INSTANCE_PATH))
    app.config.from_mapping(load_config())
    if config:
        app.config.update(config)
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config))
    app.json.sort_keys = False  # keep fields in the order the schemas declare them

    db.init_app(app)

    from src.api import Api, IdConverter, courses, health, students

    app.url_map.converters["id"] = IdConverter
    api = Api(
        app,
        spec_kwargs={"marshmallow_plugin": MarshmallowPlugin(schema_name_resolver=_schema_name)},
    )
    for module in (health, students, courses):
        api.register_blueprint(module.blp)
    error_handling.init_app(app)
    observability.init_request_logging(app)
    observability.init_metrics(app)
    cli.init_app(app)
    return app
