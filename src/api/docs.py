"""Swagger UI's files for ``/docs``, served from the installed swagger-ui-bundle package.

flask-smorest renders the ``/docs`` page itself; it loads its scripts and styles from
``OPENAPI_SWAGGER_UI_URL``, which points here instead of a CDN.
"""

from __future__ import annotations

from flask import Blueprint, Response, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from src.auth.access import public

blp = Blueprint("docs_assets", __name__)

#: The files change only with the package's version: browsers may keep them a day.
ASSET_MAX_AGE = 24 * 3600


@blp.get("/docs/assets/<path:filename>")
@public
def asset(filename: str) -> Response:
    """One file of the Swagger UI distribution (404 for anything else)."""
    return send_from_directory(swagger_ui_path, filename, max_age=ASSET_MAX_AGE)
