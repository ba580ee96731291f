"""OIDC login: the authorization-code flow with PKCE, state and nonce, and the role mapping.

``begin`` stores the login's state (its digest), nonce and PKCE verifier in the database,
so the provider may call back to any replica, once, within ``LOGIN_TTL``; ``finish`` trades
the code for tokens (authlib), checks the ID token's signature against the provider's JWKS
and its issuer, audience, nonce and expiry (joserfc), maps a claim to a role, creates or
updates the local user and starts a session like a password login. ``role_for`` is pure.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from kubecap.api.auth import AuthService, NewSession, Role, digest
from kubecap.api.problems import AuthError, Forbidden
from kubecap.config import OidcSettings
from kubecap.domain.audit import AuditResult
from kubecap.errors import ConfigError
from kubecap.store import Store

LOGIN_TTL = timedelta(minutes=10)
TIMEOUT_S = 10.0
ALGORITHMS = ["RS256", "ES256", "PS256"]
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.@-]")

# authlib's client runs on httpx2 when it is installed (lightkube brings it), else on httpx.
try:
    import httpx2

    TRANSPORT_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError, httpx2.HTTPError)
except ImportError:  # pragma: no cover - depends on the environment
    TRANSPORT_ERRORS = (httpx.HTTPError,)


def role_for(claims: Mapping[str, Any], settings: OidcSettings) -> Role | None:
    """The highest role mapped from the role claim (a string or a list), else the default (None: deny)."""
    value = claims.get(settings.role_claim)
    values = (
        [value]
        if isinstance(value, str)
        else [v for v in value if isinstance(v, str)]
        if isinstance(value, list)
        else []
    )
    mapped = [Role(settings.role_map[v]) for v in values if v in settings.role_map]
    if mapped:
        return max(mapped, key=lambda r: r.rank)
    return Role(settings.default_role) if settings.default_role else None


def username_for(claims: Mapping[str, Any], settings: OidcSettings) -> str:
    """The local user name: the configured claim, else email, else the subject; made a valid name."""
    for key in (settings.username_claim, "email", "sub"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip():
            return _NAME_CHARS.sub("_", value.strip())[:64]
    raise AuthError("the identity provider's ID token names nobody (no sub claim): check the provider")


@dataclass(frozen=True, slots=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


class OidcService:
    def __init__(
        self,
        settings: OidcSettings,
        store: Store,
        auth: AuthService,
        clock: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._store = store
        self._auth = auth
        self._clock = clock
        self._provider: Provider | None = None

    @property
    def label(self) -> str:
        return self._settings.label

    def _unreachable(self, what: str, exc: Exception) -> ConfigError:
        return ConfigError(
            f"the identity provider {self._settings.issuer} could not be reached for {what} ({exc}):"
            " check oidc.issuer and that kubecap can reach it"
        )

    async def provider(self) -> Provider:
        if self._provider is not None:
            return self._provider
        url = self._settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
                answer = await client.get(url)
                answer.raise_for_status()
                found = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise self._unreachable("its discovery document", exc) from exc
        if found.get("issuer", "").rstrip("/") != self._settings.issuer.rstrip("/"):
            raise ConfigError(
                f"the identity provider calls itself {found.get('issuer')!r}, not {self._settings.issuer!r}:"
                " set oidc.issuer to its issuer exactly"
            )
        try:
            self._provider = Provider(
                found["issuer"], found["authorization_endpoint"], found["token_endpoint"], found["jwks_uri"]
            )
        except KeyError as exc:
            raise ConfigError(
                f"the identity provider's discovery document lacks {exc}: is it OIDC?"
            ) from None
        return self._provider

    def _client(self, redirect_uri: str) -> AsyncOAuth2Client:
        secret = self._settings.client_secret
        return AsyncOAuth2Client(
            self._settings.client_id,
            secret.get_secret_value() if secret else None,
            scope=" ".join(self._settings.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic" if secret else "none",
            timeout=TIMEOUT_S,
        )

    async def begin(self, redirect_uri: str) -> str:
        """The provider's authorize URL for a new login (state, nonce and verifier kept for the callback)."""
        provider = await self.provider()
        state, nonce, verifier = (
            secrets.token_urlsafe(32),
            secrets.token_urlsafe(32),
            secrets.token_urlsafe(64),
        )
        await self._store.add_oidc_login(digest(state), nonce, verifier, expires_at=self._clock() + LOGIN_TTL)
        async with self._client(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                provider.authorization_endpoint, state=state, nonce=nonce, code_verifier=verifier
            )
        return str(url)

    async def finish(self, code: str, state: str, redirect_uri: str) -> NewSession:
        pending = await self._store.take_oidc_login(digest(state), now=self._clock())
        if pending is None:
            raise AuthError("this sign-in is unknown, was already used or took too long: start it again")
        provider = await self.provider()
        try:
            async with self._client(redirect_uri) as client:
                token = await client.fetch_token(
                    provider.token_endpoint, code=code, code_verifier=pending.verifier
                )
        except OAuthError as exc:
            raise AuthError(
                f"the identity provider refused the sign-in ({exc.error}): start it again, or check"
                " oidc.client_id and oidc.client_secret"
            ) from exc
        except TRANSPORT_ERRORS as exc:
            raise self._unreachable("the token", exc) from exc
        raw = token.get("id_token")
        if not isinstance(raw, str):
            raise AuthError("the identity provider sent no ID token: check that oidc.scopes include openid")
        claims = await self._verify(provider, raw, pending.nonce)
        return await self._sign_in(provider, claims)

    async def _verify(self, provider: Provider, raw: str, nonce: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
                answer = await client.get(provider.jwks_uri)
                answer.raise_for_status()
                keys = KeySet.import_key_set(answer.json())
        except (httpx.HTTPError, ValueError, JoseError) as exc:
            raise self._unreachable("its signing keys", exc) from exc
        try:
            decoded = jwt.decode(raw, keys, algorithms=ALGORITHMS)
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": provider.issuer},
                aud={"essential": True, "value": self._settings.client_id},
                nonce={"essential": True, "value": nonce},
                sub={"essential": True},
                exp={"essential": True},
            ).validate(decoded.claims)
        except JoseError as exc:
            claim = getattr(exc, "claim", None)
            what = f"its {claim} claim is wrong or missing" if claim else f"it does not verify ({exc.error})"
            raise AuthError(
                f"the identity provider's ID token was refused: {what} (audience must be"
                f" {self._settings.client_id!r}, issuer {provider.issuer!r}, and the nonce this sign-in sent):"
                " check oidc.client_id and oidc.issuer, then start again"
            ) from exc
        return dict(decoded.claims)

    async def _sign_in(self, provider: Provider, claims: dict[str, Any]) -> NewSession:
        username = username_for(claims, self._settings)
        role = role_for(claims, self._settings)
        if role is None:
            await self._store.record_audit(
                self._auth.audit_event(
                    username,
                    "login",
                    f"user {username}",
                    AuditResult.REJECTED,
                    message=f"via OIDC: no role mapped from claim {self._settings.role_claim!r}",
                )
            )
            raise Forbidden(
                f"your identity carries no value of {self._settings.role_claim!r} that kubecap maps to a role:"
                " ask an admin to add it to oidc.role_map (or set oidc.default_role)"
            )
        user, before = await self._store.oidc_sign_in(
            provider.issuer,
            str(claims["sub"]),
            username,
            role.value,
            password_hash=self._auth.unusable_password(),
            now=self._clock(),
        )
        if user.disabled:
            raise AuthError(f"user {user.username!r} is disabled: ask an admin")
        if before is None or before != role.value:
            await self._store.record_audit(
                self._auth.audit_event(
                    "oidc",
                    "user.create" if before is None else "user.update",
                    f"user {user.username}",
                    AuditResult.OK,
                    before=None if before is None else {"role": before},
                    after={"role": role.value, "source": "oidc"},
                )
            )
        return await self._auth.start_session(user, f"via OIDC {provider.issuer}")
