"""The OAuthClient and OAuthToken models: learning platforms that read the OneRoster
service, and the access tokens they were issued."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Identity, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from src.models.base import Base

#: The OneRoster 1.2 rostering scopes a client may hold (1EdTech's names).
ROSTER_CORE_SCOPE = "https://purl.imsglobal.org/spec/or/v1p2/scope/roster-core.readonly"
ROSTER_SCOPE = "https://purl.imsglobal.org/spec/or/v1p2/scope/roster.readonly"
SCOPES = (ROSTER_CORE_SCOPE, ROSTER_SCOPE)


class OAuthClient(Base):
    """A client of the OAuth 2.0 client-credentials grant (RFC 6749 §4.4).

    ``client_id`` is public and random; the secret (256 random bits) is shown once and
    stored as a SHA-256 hash, as API keys are. ``scopes``, separated by spaces, are what
    its tokens may be granted. A revoked client keeps its row (its tokens stop at once).
    """

    __tablename__ = "oauth_clients"
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    revoked_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<OAuthClient {self.client_id} {self.name!r}>"


class OAuthToken(Base):
    """An access token issued to a client, stored as a SHA-256 hash, with its granted
    ``scope`` and when it expires. Deleting the client deletes its tokens."""

    __tablename__ = "oauth_tokens"

    # SQLite autoincrements only an INTEGER primary key.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), Identity(), primary_key=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[int] = mapped_column(
        ForeignKey("oauth_clients.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(String(500))
    issued_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(index=True)

    def __repr__(self) -> str:
        return f"<OAuthToken client={self.client_id}>"
