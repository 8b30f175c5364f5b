"""Extensions, created unbound here and bound to the app in ``create_app``."""

from flask_sqlalchemy import SQLAlchemy

from src.models.base import Base

#: ``expire_on_commit=False``: views serialize what they just committed; with
#: ``eager_defaults`` every server-set column is already fetched by RETURNING, so
#: reloading the rows after the commit would only cost a query.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
