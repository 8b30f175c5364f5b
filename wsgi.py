"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi ...``."""

import sys

from src import create_app
from src.config import ConfigurationError
from src.observability import configure_logging

configure_logging()
try:
    app = create_app()
except ConfigurationError as error:
    # One line on standard error and exit status 1, for gunicorn and flask alike.
    sys.exit(f"configuration error: {error}")
