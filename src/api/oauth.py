"""``POST /oauth/token``: access tokens for the OneRoster service (RFC 6749 §4.4).

Authlib answers the request (``src.auth.oauth``), success and errors in RFC 6749's
JSON; this view only documents it in the OpenAPI document.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from src.api.framework import Blueprint
from src.auth import oauth

blp = Blueprint("oauth", __name__, description="OAuth 2.0 access tokens for the OneRoster service.")

_SCOPE_LIST = ", ".join(f"`{scope}`" for scope in oauth.SCOPES)
# RFC 6749's grammar (Appendix A): scope tokens separated by spaces, and the characters
# of an error's description.
SCOPE_PATTERN = r"^[!#-\[\]-~]+( [!#-\[\]-~]+)*$"
DESCRIPTION_PATTERN = r"^[ !#-\[\]-~]*$"

#: The token request, a form (``application/x-www-form-urlencoded``) as RFC 6749 has it.
TOKEN_REQUEST = {
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "required": ["grant_type"],
                "properties": {
                    "grant_type": {"type": "string", "enum": ["client_credentials"]},
                    "scope": {
                        "type": "string",
                        "maxLength": 1000,
                        "pattern": SCOPE_PATTERN,
                        "description": "Scopes separated by spaces; without it, every scope "
                        f"the client may have ({_SCOPE_LIST}).",
                    },
                    "client_id": {
                        "type": "string",
                        "maxLength": 100,
                        "pattern": "^[ -~]+$",
                        "description": "The client's id, when it does not use HTTP Basic.",
                    },
                    "client_secret": {
                        "type": "string",
                        "maxLength": 100,
                        "format": "password",
                        "description": "The client's secret, with `client_id`.",
                    },
                },
                "additionalProperties": False,
            }
        }
    },
}


class TokenSchema(Schema):
    """An access token (RFC 6749 §5.1)."""

    access_token = fields.String(
        required=True, validate=[validate.Length(max=100), validate.Regexp("^[A-Za-z0-9]+$")]
    )
    token_type = fields.String(required=True, validate=validate.OneOf(["Bearer"]))
    expires_in = fields.Integer(
        required=True, validate=validate.Range(min=1, max=oauth.TOKEN_LIFETIME)
    )
    scope = fields.String(
        required=True, validate=[validate.Length(max=1000), validate.Regexp(SCOPE_PATTERN)]
    )


class OAuthErrorSchema(Schema):
    """An OAuth error (RFC 6749 §5.2)."""

    error = fields.String(
        required=True,
        validate=validate.OneOf(
            [
                "invalid_request",
                "invalid_client",
                "invalid_grant",
                "unauthorized_client",
                "unsupported_grant_type",
                "invalid_scope",
                "insecure_transport",
            ]
        ),
    )
    error_description = fields.String(
        validate=[validate.Length(max=500), validate.Regexp(DESCRIPTION_PATTERN)]
    )


@blp.route("/oauth/token")
class Token(MethodView):
    """The token endpoint."""

    @blp.doc(operationId="createAccessToken", requestBody=TOKEN_REQUEST)
    @blp.authenticates_itself([{"oauthClientBasic": []}, {}])
    @blp.response(200, TokenSchema)
    @blp.alt_response(
        400,
        schema=OAuthErrorSchema,
        description="`invalid_request`, `unsupported_grant_type`, `invalid_scope`, or "
        "`insecure_transport` (plain http to an address that is not loopback)",
    )
    @blp.alt_response(
        401,
        schema=OAuthErrorSchema,
        description="`invalid_client`: unknown, revoked, or a wrong secret",
        headers={
            "WWW-Authenticate": {
                "schema": {"type": "string", "maxLength": 300, "pattern": "^Basic .*$"}
            }
        },
    )
    def post(self) -> Any:
        """Get an access token for the OneRoster service.

        The client-credentials grant (RFC 6749 §4.4): `grant_type=client_credentials`, the
        client authenticated by HTTP Basic (`client_id:client_secret`) or by `client_id` and
        `client_secret` in the form, and an optional `scope`. The token is granted the scopes
        asked for that the client may have (unknown ones are left out; none left is `400
        invalid_scope`), lasts an hour, and works on the OneRoster paths only. Errors are RFC
        6749's `{"error", "error_description"}`."""
        return oauth.token_response()
