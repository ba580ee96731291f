"""OIDC login end to end: kubecap on 127.0.0.1 against the test provider (kubecap.testing.oidc),
whose RS256 key is generated for the test. The browser's redirects are followed by hand so each
hop can be checked: PKCE and state on the way out, the ID token's checks on the way back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from kubecap.api.auth import Role
from kubecap.api.oidc import role_for, username_for
from kubecap.config import OidcSettings, Settings
from kubecap.testing.oidc import OidcProvider
from tests.api.inproc import copy_settings, login, serve


@pytest.fixture
def provider() -> Iterator[OidcProvider]:
    with OidcProvider() as running:
        yield running


@pytest.fixture
def url(seeded: Settings, tmp_path: Path, provider: OidcProvider) -> Iterator[str]:
    oidc = OidcSettings.model_validate(
        {
            "issuer": provider.issuer,
            "client_id": provider.client_id,
            "client_secret": provider.client_secret,
            "role_map": {"kubecap-admins": "admin", "kubecap-ops": "operator"},
        }
    )
    with serve(copy_settings(seeded, tmp_path, oidc=oidc)) as base:
        yield base


def sign_in(url: str) -> tuple[httpx.Client, httpx.Response]:
    """Follow the browser's way: kubecap → provider's authorize → kubecap's callback. Returns the
    client (holding any cookies) and the callback's answer."""
    client = httpx.Client(base_url=url, timeout=30)
    start = client.get("/api/auth/oidc/login")
    assert start.status_code == 302, start.text
    authorize = start.headers["location"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["state"] and query["nonce"]
    back = httpx.get(authorize)
    assert back.status_code == 302, back.text
    return client, client.get(back.headers["location"])


def error_of(answer: httpx.Response) -> str:
    """The one sentence the callback hands the login page (in a cookie, never in the URL)."""
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"
    return unquote(answer.cookies["kubecap_login_error"])


def test_first_login_creates_the_user_with_the_mapped_role_and_later_logins_update_it(
    url: str, provider: OidcProvider
) -> None:
    provider.sign_in_as("u-1", preferred_username="ada", groups=["staff", "kubecap-ops"])
    client, answer = sign_in(url)
    with closing(client):
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        me = client.get("/api/auth/me").json()
        assert (me["username"], me["role"], me["via"]) == ("ada", "operator", "session")
    request = provider.token_requests[-1]
    assert request["grant_type"] == "authorization_code" and request["code_verifier"]
    provider.sign_in_as("u-1", preferred_username="ada", groups=["kubecap-admins", "kubecap-ops"])
    client, answer = sign_in(url)
    with closing(client):
        assert client.get("/api/auth/me").json()["role"] == "admin"
    admin, _ = login(url, Role.ADMIN)
    with admin:
        events = admin.get("/api/audit", params={"target": "user ada"}).json()["items"]
        assert [(e["action"], e["result"]) for e in events] == [
            ("user.create", "ok"),
            ("login", "ok"),
            ("user.update", "ok"),
            ("login", "ok"),
        ]
        assert events[0]["after"] == {"role": "operator", "source": "oidc"}
        assert events[2]["before"] == {"role": "operator"}


def test_no_mapped_role_is_refused_and_audited(url: str, provider: OidcProvider) -> None:
    provider.sign_in_as("u-2", preferred_username="eve", groups=["visitors"])
    client, answer = sign_in(url)
    with closing(client):
        assert "no value of 'groups'" in error_of(answer)
        assert client.get("/api/auth/me").status_code == 401
    admin, _ = login(url, Role.ADMIN)
    with admin:
        events = admin.get("/api/audit", params={"target": "user eve"}).json()["items"]
        assert [(e["action"], e["result"]) for e in events] == [("login", "rejected")]
        assert "eve" not in [u["username"] for u in admin.get("/api/users").json()]


@pytest.mark.parametrize(
    ("tampered", "claim"),
    [({"aud": "someone-else"}, "aud"), ({"nonce": "replayed"}, "nonce"), ({"iss": "http://evil"}, "iss")],
)
def test_an_id_token_for_another_client_or_login_is_refused(
    url: str, provider: OidcProvider, tampered: dict[str, str], claim: str
) -> None:
    provider.sign_in_as("u-3", preferred_username="mallory", groups=["kubecap-admins"])
    provider.tamper = tampered
    client, answer = sign_in(url)
    with closing(client):
        message = error_of(answer)
        assert f"its {claim} claim is wrong" in message
        assert client.get("/api/auth/me").status_code == 401


def test_a_state_is_used_once(url: str, provider: OidcProvider) -> None:
    provider.sign_in_as("u-4", preferred_username="bob", groups=["kubecap-ops"])
    client = httpx.Client(base_url=url, timeout=30)
    with closing(client):
        back = httpx.get(client.get("/api/auth/oidc/login").headers["location"]).headers["location"]
        assert client.get(back).headers["location"] == "/"
        assert "already used" in error_of(client.get(back))
        assert "no code" in error_of(client.get("/api/auth/oidc/callback"))
        assert "'access_denied'" in error_of(client.get("/api/auth/oidc/callback?error=access_denied"))


def test_without_oidc_settings_the_routes_say_so(seeded: Settings, tmp_path: Path) -> None:
    with serve(copy_settings(seeded, tmp_path)) as base:
        answer = httpx.get(base + "api/auth/oidc/login")
        assert answer.status_code == 404 and "not configured" in answer.json()["detail"]


def test_role_mapping_is_pure_and_takes_the_highest_role() -> None:
    settings = OidcSettings.model_validate(
        {
            "issuer": "http://idp",
            "client_id": "c",
            "role_claim": "roles",
            "role_map": {"a": "admin", "o": "operator"},
        }
    )
    assert role_for({"roles": ["o", "a"]}, settings) is Role.ADMIN
    assert role_for({"roles": "o"}, settings) is Role.OPERATOR
    assert role_for({"roles": ["x"]}, settings) is None
    assert role_for({}, settings.model_copy(update={"default_role": "viewer"})) is Role.VIEWER
    assert username_for({"sub": "s", "email": "a b@x.io"}, settings) == "a_b@x.io"
    with pytest.raises(ValueError, match="openid"):
        OidcSettings.model_validate({"issuer": "http://idp", "client_id": "c", "scopes": ["profile"]})
