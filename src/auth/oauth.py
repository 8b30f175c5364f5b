"""OAuth 2.0 for the OneRoster service: clients, the client-credentials grant (RFC 6749
§4.4) and the bearer tokens it issues (RFC 6750), by Authlib.

Authlib's Flask ``AuthorizationServer`` runs the token endpoint: it authenticates the
client (HTTP Basic or ``client_id``/``client_secret`` in the form), checks the grant
type and scope, and answers RFC 6749's JSON, errors included. What is ours: where
clients and tokens are stored (hashed, as API keys are: ``src.auth.keys``), which
scopes a client may be granted, and that a revoked client's tokens stop at once (a
token is looked up with its client on every request).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import (
    ClientMixin,
    InsecureTransportError,
    InvalidClientError,
    TokenMixin,
)
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import Flask, Response, current_app
from sqlalchemy import bindparam, delete, insert, select, update

from src.database import Statement, transaction
from src.models import OAuthClient, OAuthToken
from src.models.oauth_client import ROSTER_CORE_SCOPE, ROSTER_SCOPE, SCOPES

__all__ = ["ROSTER_CORE_SCOPE", "ROSTER_SCOPE", "SCOPES"]  # and the rest, by name

#: How long an access token lasts, in seconds.
TOKEN_LIFETIME = 3600
CLIENT_ID_PREFIX = "orc_"

_clients = OAuthClient.__table__
_tokens = OAuthToken.__table__


def secret_hash(secret: str) -> str:
    """The hash a client secret or an access token is stored and looked up by (both
    are 256 random bits: a slow hash adds nothing but latency)."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Client(ClientMixin):
    """An active client, as Authlib asks about it."""

    id: int
    client_id: str
    secret_hash: str
    scopes: tuple[str, ...]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The scope to grant: every scope the client may have when it asks for none;
        else those it asks for and may have (unknown ones left out, RFC 6749 §3.3);
        ``None`` (``invalid_scope``) when none is left."""
        if not scope:
            return " ".join(self.scopes)
        asked = scope.split()
        granted = [name for name in self.scopes if name in asked]
        return " ".join(granted) or None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(self.secret_hash, secret_hash(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in _Grant.TOKEN_ENDPOINT_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == ClientCredentialsGrant.GRANT_TYPE


@dataclass(frozen=True)
class Token(TokenMixin):
    """A valid access token: its client (``client_id``, the public one) and scope."""

    client_id: str
    scope: str
    expires_at: datetime

    def check_client(self, client: Any) -> bool:
        return bool(client.get_client_id() == self.client_id)

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int((self.expires_at - datetime.now(UTC)).total_seconds()))

    def is_expired(self) -> bool:
        return self.expires_at <= datetime.now(UTC)

    def is_revoked(self) -> bool:
        return False  # a revoked client's tokens are not found at all


class _Grant(ClientCredentialsGrant):
    # HTTP Basic (RFC 6749 §2.3.1's first choice) or the form body.
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


#: What every failed client authentication is told: never whether the client exists.
CLIENT_AUTHENTICATION_FAILED = "Client authentication failed."


class _Server(AuthorizationServer):
    def handle_error_response(self, request: Any, error: OAuth2Error) -> Response:
        # One answer to every failed client authentication, however it was tried:
        # 401 with a Basic challenge (RFC 6749 §5.2 allows it for the form, too).
        if isinstance(error, InvalidClientError):
            error.status_code = 401
            error.description = CLIENT_AUTHENTICATION_FAILED
        return super().handle_error_response(request, error)


_ACTIVE_CLIENT = Statement(
    select(_clients.c.id, _clients.c.client_id, _clients.c.secret_hash, _clients.c.scopes).where(
        _clients.c.client_id == bindparam("client_id"), _clients.c.revoked_at.is_(None)
    )
)


def _query_client(client_id: str) -> Client | None:
    row = _ACTIVE_CLIENT.first({"client_id": client_id})
    if row is None:
        return None
    return Client(row["id"], row["client_id"], row["secret_hash"], tuple(row["scopes"].split()))


_SAVE_TOKEN = Statement(
    insert(_tokens).values(
        token_hash=bindparam("token_hash"),
        client_id=bindparam("client"),
        scope=bindparam("scope"),
        expires_at=bindparam("expires_at"),
    )
)


_FORGET_EXPIRED = Statement(
    delete(_tokens).where(
        _tokens.c.client_id == bindparam("client"), _tokens.c.expires_at < bindparam("now")
    )
)


def _save_token(token: dict[str, Any], request: Any) -> None:
    # The client's expired tokens go as it gets a new one: the table holds live ones.
    now = datetime.now(UTC)
    with transaction():
        _FORGET_EXPIRED.run({"client": request.client.id, "now": now})
        _SAVE_TOKEN.run(
            {
                "token_hash": secret_hash(token["access_token"]),
                "client": request.client.id,
                "scope": token.get("scope", ""),
                "expires_at": now + timedelta(seconds=token["expires_in"]),
            }
        )


_TOKEN = Statement(
    select(_clients.c.client_id, _tokens.c.scope, _tokens.c.expires_at)
    .join_from(_tokens, _clients, _clients.c.id == _tokens.c.client_id)
    .where(_tokens.c.token_hash == bindparam("token_hash"), _clients.c.revoked_at.is_(None))
)


class _Validator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> Token | None:
        row = _TOKEN.first({"token_hash": secret_hash(token_string)})
        return None if row is None else Token(row["client_id"], row["scope"], row["expires_at"])


#: Checks a request's bearer token (:func:`bearer_token`): ``acquire_token(scopes)``
#: returns the :class:`Token` when it is valid and holds one of ``scopes``, else raises
#: Authlib's ``OAuth2Error`` (``invalid_token``, ``insufficient_scope``, ...).
protector = ResourceProtector()
protector.register_token_validator(_Validator(realm="oneroster"))


def bearer_token() -> Token | None:
    """The valid, unexpired token of the request's ``Authorization: Bearer`` header
    whose client is not revoked; ``None`` without one."""
    try:
        return protector.acquire_token()
    except OAuth2Error:
        return None


def has_scope(token: Token, scopes: list[str]) -> bool:
    """Whether ``token`` holds one of ``scopes``."""
    return not BearerTokenValidator.scope_insufficient(token.get_scope(), scopes)


def token_response() -> Response:
    """Answer the token request (``POST /oauth/token``), errors included: one over plain
    http to an address that is not loopback is ``400 insecure_transport`` (RFC 6749
    §3.2: behind a proxy that terminates TLS, set ``PROXY_FIX_X_PROTO``)."""
    server: _Server = current_app.extensions["registrar.oauth"]
    try:
        return server.create_token_response()
    except InsecureTransportError as error:
        # Authlib checks the transport before its own error handling begins.
        return server.handle_error_response(None, error)
    except UnicodeDecodeError:
        # A Basic header that is not base64 of UTF-8 text: Authlib's decoding raises.
        return server.handle_error_response(None, InvalidClientError())


def init_app(app: Flask) -> None:
    """Run the token endpoint's server on ``app`` (one server per app)."""
    app.config.setdefault("OAUTH2_TOKEN_EXPIRES_IN", {"client_credentials": TOKEN_LIFETIME})
    server = _Server(app, query_client=_query_client, save_token=_save_token)
    server.register_grant(_Grant)
    app.extensions["registrar.oauth"] = server


# -- Clients, for the operator's commands -------------------------------------------------


@dataclass(frozen=True)
class NewClient:
    """A client just created: the secret is only ever available here."""

    client_id: str
    secret: str
    name: str
    scopes: tuple[str, ...]


_INSERT_CLIENT = Statement(
    insert(_clients).values(
        client_id=bindparam("client_id"),
        name=bindparam("name"),
        secret_hash=bindparam("secret_hash"),
        scopes=bindparam("scopes"),
    )
)


def create_client(name: str, scopes: tuple[str, ...] = SCOPES) -> NewClient:
    """Create a client that may be granted ``scopes`` (every known scope by default),
    committed; the caller shows the secret once. ``ValueError`` for an unknown scope
    or a name that is not 1-100 characters."""
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}; the scopes are {', '.join(SCOPES)}")
    if not 1 <= len(name.strip()) <= 100:
        raise ValueError("a client's name is 1 to 100 characters")
    kept = tuple(scope for scope in SCOPES if scope in scopes)
    client_id = CLIENT_ID_PREFIX + secrets.token_hex(12)
    secret = secrets.token_urlsafe(32)
    _INSERT_CLIENT.run(
        {
            "client_id": client_id,
            "name": name.strip(),
            "secret_hash": secret_hash(secret),
            "scopes": " ".join(kept),
        }
    )
    return NewClient(client_id, secret, name.strip(), kept)


_LIST_CLIENTS = Statement(
    select(
        _clients.c.client_id,
        _clients.c.name,
        _clients.c.scopes,
        _clients.c.created_at,
        _clients.c.revoked_at,
    ).order_by(_clients.c.id)
)


def list_clients() -> list[dict[str, Any]]:
    """Every client, oldest first (never a secret)."""
    return _LIST_CLIENTS.mappings()


_REVOKE_CLIENT = Statement(
    update(_clients)
    .where(_clients.c.client_id == bindparam("client"), _clients.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("now"))
)


def revoke_client(client_id: str) -> bool:
    """Revoke the active client ``client_id``: its tokens stop working at once; whether
    there was one."""
    return _REVOKE_CLIENT.run({"client": client_id, "now": datetime.now(UTC)}) > 0
