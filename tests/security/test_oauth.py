"""OAuth 2.0 for the OneRoster service: the oauth-client commands, the token endpoint
(RFC 6749 §4.4, §5) and the bearer tokens it issues (src/auth/oauth.py)."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest
from authlib.oauth2 import OAuth2Error
from sqlalchemy import select

from src.auth import oauth
from src.database import db
from src.models import OAuthClient, OAuthToken
from src.models.oauth_client import ROSTER_CORE_SCOPE, ROSTER_SCOPE
from tests.conftest import make_app
from tests.security.conftest import client_with


def cli(app, *args):
    return app.test_cli_runner().invoke(args=["oauth-client", *args])


def create(app, *scopes: str, name: str = "Canvas") -> tuple[str, str]:
    """A client made by the command: its id and secret, from the last two lines."""
    options = [part for scope in scopes for part in ("--scope", scope)]
    result = cli(app, "create", "--name", name, *options)
    assert result.exit_code == 0, result.output
    id_line, secret_line = result.output.strip().splitlines()[-2:]
    assert id_line.startswith("client_id: ")
    assert secret_line.startswith("client_secret: ")
    return id_line.removeprefix("client_id: "), secret_line.removeprefix("client_secret: ")


def basic(client_id: str, secret: str) -> dict[str, str]:
    # RFC 6749 §2.3.1: each part form-encoded, then Basic.
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


@pytest.fixture
def anonymous(app):
    return client_with(app, None)


def token_request(anonymous, data, headers=None):
    return anonymous.post("/oauth/token", data=data, headers=headers or {})


def test_the_command_prints_the_id_and_secret_last_and_stores_only_a_hash(app):
    client_id, secret = create(app)

    assert client_id.startswith("orc_")
    assert len(secret) >= 43  # 32 random bytes, base64url
    with app.app_context():
        row = db.session.scalars(select(OAuthClient)).one()
        assert row.client_id == client_id
        assert row.name == "Canvas"
        assert secret not in (row.secret_hash, row.scopes, row.name)
        assert row.scopes == f"{ROSTER_CORE_SCOPE} {ROSTER_SCOPE}"


def test_the_scope_option_repeats_and_refuses_unknown_scopes(app):
    create(app, ROSTER_CORE_SCOPE, name="Core only")

    assert cli(app, "create", "--name", "X", "--scope", "roster.everything").exit_code == 2
    assert cli(app, "create").exit_code == 2  # no --name
    with app.app_context():
        assert db.session.scalars(select(OAuthClient.scopes)).all() == [ROSTER_CORE_SCOPE]


def test_list_shows_clients_without_secrets(app):
    client_id, secret = create(app)

    result = cli(app, "list")

    assert result.exit_code == 0
    assert client_id in result.output
    assert "Canvas" in result.output
    assert secret not in result.output


@pytest.mark.parametrize("how", ["basic", "form"])
def test_a_client_gets_a_bearer_token_by_basic_or_by_the_form(app, anonymous, how):
    client_id, secret = create(app)
    data = {"grant_type": "client_credentials"}
    headers = basic(client_id, secret) if how == "basic" else {}
    if how == "form":
        data |= {"client_id": client_id, "client_secret": secret}

    response = token_request(anonymous, data, headers)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == f"{ROSTER_CORE_SCOPE} {ROSTER_SCOPE}"
    assert response.headers["Cache-Control"] == "no-store"
    with app.app_context():
        stored = db.session.scalars(select(OAuthToken)).one()
        assert stored.token_hash == oauth.secret_hash(body["access_token"])
        assert stored.scope == body["scope"]


@pytest.mark.parametrize(
    ("asked", "granted"),
    [
        (ROSTER_CORE_SCOPE, ROSTER_CORE_SCOPE),
        (f"{ROSTER_CORE_SCOPE} https://example.edu/unknown", ROSTER_CORE_SCOPE),
        (f"{ROSTER_SCOPE} {ROSTER_CORE_SCOPE}", f"{ROSTER_CORE_SCOPE} {ROSTER_SCOPE}"),
    ],
)
def test_the_granted_scope_is_what_was_asked_and_may_be_had(app, anonymous, asked, granted):
    client_id, secret = create(app)

    response = token_request(
        anonymous, {"grant_type": "client_credentials", "scope": asked}, basic(client_id, secret)
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["scope"] == granted


@pytest.mark.parametrize(
    "asked", [ROSTER_SCOPE, "https://example.edu/unknown", f"{ROSTER_SCOPE} other"]
)
def test_no_scope_left_is_invalid_scope(app, anonymous, asked):
    client_id, secret = create(app, ROSTER_CORE_SCOPE)

    response = token_request(
        anonymous, {"grant_type": "client_credentials", "scope": asked}, basic(client_id, secret)
    )

    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_scope"
    with app.app_context():
        assert db.session.scalars(select(OAuthToken)).all() == []


@pytest.mark.parametrize(
    "credentials",
    ["wrong-secret", "unknown-client", "form-wrong-secret", "form-unknown-client", "none"],
)
def test_a_client_that_fails_to_authenticate_is_401_invalid_client(app, anonymous, credentials):
    client_id, secret = create(app)
    data = {"grant_type": "client_credentials"}
    headers = {}
    if credentials == "wrong-secret":
        headers = basic(client_id, secret + "x")
    elif credentials == "unknown-client":
        headers = basic("orc_000000000000000000000000", secret)
    elif credentials == "form-wrong-secret":
        data |= {"client_id": client_id, "client_secret": "nope"}
    elif credentials == "form-unknown-client":
        data |= {"client_id": "orc_nobody", "client_secret": secret}

    response = token_request(anonymous, data, headers)

    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"grant_type": "password", "username": "a", "password": "b"}, "unsupported_grant_type"),
        ({"grant_type": "authorization_code", "code": "x"}, "unsupported_grant_type"),
        ({}, "unsupported_grant_type"),
    ],
)
def test_other_grants_are_refused_in_rfc_6749_words(app, anonymous, data, error):
    client_id, secret = create(app)

    response = token_request(anonymous, data, basic(client_id, secret))

    assert response.status_code == 400
    assert response.get_json()["error"] == error


def test_api_keys_are_not_client_credentials_and_tokens_are_not_api_keys(app, anonymous):
    client_id, secret = create(app)
    admin_key = app.config["TEST_API_KEY"]

    with_key = anonymous.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Bearer {admin_key}"},
    )
    token = token_request(
        anonymous, {"grant_type": "client_credentials"}, basic(client_id, secret)
    ).get_json()["access_token"]

    assert with_key.status_code == 401
    assert with_key.get_json()["error"] == "invalid_client"
    assert client_with(app, token).get("/courses").status_code == 401


def _acquire(app, token: str, scopes: list[str]):
    with app.test_request_context(headers={"Authorization": f"Bearer {token}"}):
        return oauth.protector.acquire_token(scopes)


def test_a_token_holds_its_scopes_and_a_revoked_clients_tokens_stop_at_once(app, anonymous):
    client_id, secret = create(app, ROSTER_CORE_SCOPE)
    token = token_request(
        anonymous, {"grant_type": "client_credentials"}, basic(client_id, secret)
    ).get_json()["access_token"]

    assert _acquire(app, token, [ROSTER_CORE_SCOPE, ROSTER_SCOPE]).client_id == client_id
    with pytest.raises(OAuth2Error) as insufficient:
        _acquire(app, token, [ROSTER_SCOPE])
    assert insufficient.value.error == "insufficient_scope"

    result = cli(app, "revoke", client_id)

    assert result.exit_code == 0, result.output
    with pytest.raises(OAuth2Error) as revoked:
        _acquire(app, token, [ROSTER_CORE_SCOPE])
    assert revoked.value.error == "invalid_token"
    again = token_request(anonymous, {"grant_type": "client_credentials"}, basic(client_id, secret))
    assert again.status_code == 401
    assert cli(app, "revoke", client_id).exit_code == 1


def test_an_expired_token_is_invalid(app, anonymous):
    client_id, secret = create(app)
    token = token_request(
        anonymous, {"grant_type": "client_credentials"}, basic(client_id, secret)
    ).get_json()["access_token"]
    with app.app_context():
        stored = db.session.scalars(select(OAuthToken)).one()
        stored.expires_at = stored.issued_at
        db.session.commit()

    with pytest.raises(OAuth2Error) as expired:
        _acquire(app, token, [ROSTER_CORE_SCOPE])
    assert expired.value.error == "invalid_token"


def test_a_forged_token_is_invalid(app):
    with pytest.raises(OAuth2Error) as forged:
        _acquire(app, "not-a-token", [ROSTER_CORE_SCOPE])
    assert forged.value.error == "invalid_token"


def test_tokens_go_out_over_https_only_and_behind_a_tls_proxy_by_its_word(app, database_url):
    client_id, secret = create(app)
    form = {"grant_type": "client_credentials"}
    public_host = "http://registrar.example.edu"
    proxied = make_app(database_url, PROXY_FIX_X_PROTO=1)

    plain = app.test_client(api_key=None).post(
        "/oauth/token", base_url=public_host, data=form, headers=basic(client_id, secret)
    )
    behind_tls = proxied.test_client(api_key=None).post(
        "/oauth/token",
        base_url=public_host,
        data=form,
        headers={**basic(client_id, secret), "X-Forwarded-Proto": "https"},
    )

    assert plain.status_code == 400
    assert plain.get_json()["error"] == "insecure_transport"
    assert behind_tls.status_code == 200, behind_tls.get_json()


def test_a_basic_header_that_is_not_text_is_401_not_500(app, anonymous):
    response = token_request(
        anonymous, {"grant_type": "client_credentials"}, {"Authorization": "Basic //79"}
    )

    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_failed_authentications_say_the_same_whether_the_client_exists(app, anonymous):
    client_id, secret = create(app)
    form = {"grant_type": "client_credentials"}

    unknown = token_request(anonymous, form, basic("orc_nobody", secret))
    wrong = token_request(anonymous, form, basic(client_id, "wrong"))

    assert unknown.get_json() == wrong.get_json()
    assert unknown.headers["WWW-Authenticate"] == wrong.headers["WWW-Authenticate"]


def test_a_new_token_forgets_the_clients_expired_ones(app, anonymous):
    client_id, secret = create(app)
    form = {"grant_type": "client_credentials"}
    token_request(anonymous, form, basic(client_id, secret))
    with app.app_context():
        old = db.session.scalars(select(OAuthToken)).one()
        old.expires_at = old.issued_at
        db.session.commit()

    assert token_request(anonymous, form, basic(client_id, secret)).status_code == 200

    with app.app_context():
        assert len(db.session.scalars(select(OAuthToken)).all()) == 1
