"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi ...``."""

from src import create_app
from src.observability import configure_logging

configure_logging()
app = create_app()
