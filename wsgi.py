"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi ...``."""

from src import create_app

app = create_app()
