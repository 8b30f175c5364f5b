"""Alembic owns the schema: upgrade, downgrade and the models all agree."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from src.models import Base
from tests.conftest import alembic_config


def test_upgrade_downgrade_upgrade(empty_database_url):
    config = alembic_config(empty_database_url)
    engine = create_engine(empty_database_url)

    command.upgrade(config, "head")
    assert {"students", "courses"} <= set(inspect(engine).get_table_names())
    command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(config, "head")
    assert {"students", "courses"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_models_and_migrations_agree(database_url):
    engine = create_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()

    assert differences == []


def test_alembic_check_passes(database_url):
    command.check(alembic_config(database_url))
