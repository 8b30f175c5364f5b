"""Extensions, created unbound here and bound to the app in ``create_app``."""

from flask_sqlalchemy import SQLAlchemy

from src.models.base import Base

db = SQLAlchemy(model_class=Base)
