"""Noticing dead PostgreSQL connections when the pool hands them out, without a round trip.

A ping per checkout (``pool_pre_ping``) is a ``SELECT 1`` round trip on every
request. A server that ends a connection (a restart, a failover, PgBouncer going
away, ``pg_terminate_backend``) tells the client so: it sends a last message and
closes the socket, which leaves the socket readable. An idle connection in the pool
has nothing to read, so a readable one is dead (or holds a stray notice: replacing it
costs nothing). A server that vanished without a word is left to the TCP keepalives
(``engine_options``), as it was with the ping.
"""

from __future__ import annotations

import select
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError


def _drop_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    # Raising DisconnectionError makes the pool discard the connection and hand out
    # another (a fresh one if need be), up to three times.
    if dbapi_connection.closed:
        raise DisconnectionError("the connection is closed")
    readable, _, _ = select.select([dbapi_connection], [], [], 0)
    if readable:
        raise DisconnectionError("the server closed the connection")


def watch_for_closed_connections(engine: Engine) -> None:
    """Check each PostgreSQL connection as the pool hands it out (see the module)."""
    if engine.dialect.name == "postgresql":
        event.listen(engine, "checkout", _drop_closed_connection)
