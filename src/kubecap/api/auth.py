"""Who is calling and what they may do: local users, sessions, API tokens, roles, login limits.

Passwords are argon2-hashed; session and token secrets are random and only their SHA-256
digests are stored. Roles are ordered (viewer < operator < admin): a route names the least
role it needs. Every login (good or bad) and every change to users or tokens is audited.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kubecap.api.problems import AuthError, TooManyAttempts
from kubecap.config import ApiSettings
from kubecap.domain.audit import AuditEvent, AuditResult
from kubecap.errors import ConfigError, NotFoundError
from kubecap.store import Store
from kubecap.store.auth_repo import TokenRecord, UserRecord

SESSION_COOKIE = "kubecap_session"
CSRF_COOKIE = "kubecap_csrf"
CSRF_HEADER = "X-CSRF-Token"
TOKEN_PREFIX = "kcp_"  # noqa: S105 - a marker that makes leaked tokens greppable, not a secret
MIN_PASSWORD = 12


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller; ``csrf`` is set for cookie sessions (they need the CSRF header)."""

    user_id: int
    username: str
    role: Role
    via: str  # "session" or "token"
    csrf: str | None = None
    session_digest: str | None = None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_password() -> str:
    return secrets.token_urlsafe(18)


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"the password has {len(password)} characters: use at least {MIN_PASSWORD}")


class Clock(Protocol):
    def __call__(self) -> datetime: ...


class LoginLimiter:
    """At most ``attempts`` failed logins per key (user and address) within ``window`` seconds.

    The failures are rows in the database (keyed by a digest, so user names typed as
    passwords are not kept readable), so the limit holds across processes and replicas.
    """

    def __init__(self, store: Store, attempts: int, window_s: float, clock: Clock) -> None:
        self._store = store
        self._attempts = attempts
        self._window = timedelta(seconds=window_s)
        self._clock = clock

    async def check(self, key: str) -> None:
        now = self._clock()
        recent = await self._store.login_failures(digest(key), since=now - self._window)
        if len(recent) >= self._attempts:
            wait = int((self._window - (now - recent[0])).total_seconds()) + 1
            raise TooManyAttempts(
                f"too many failed logins for this user from this address: wait {wait} s and try again",
                retry_after=wait,
            )

    async def failed(self, key: str) -> None:
        await self._store.add_login_failure(digest(key), at=self._clock())

    async def succeeded(self, key: str) -> None:
        await self._store.clear_login_failures(digest(key))


@dataclass(frozen=True, slots=True)
class NewSession:
    secret: str
    csrf: str
    expires_at: datetime
    principal: Principal


class AuthService:
    """Users, logins, sessions and API tokens over the store; every change is audited."""

    def __init__(self, store: Store, settings: ApiSettings, clock: Clock) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._hasher = PasswordHasher()
        self.limiter = LoginLimiter(store, settings.login_attempts, settings.login_window_seconds, clock)
        # Verifying against a dummy hash for unknown users keeps their timing like a wrong password.
        self._dummy = self._hasher.hash(secrets.token_hex(8))

    def _audit(
        self,
        actor: str,
        action: str,
        target: str,
        result: AuditResult,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        message: str = "",
    ) -> AuditEvent:
        return AuditEvent(
            at=self._clock(),
            actor=actor,
            action=action,
            target=target,
            result=result,
            before=before,
            after=after,
            message=message,
        )

    async def bootstrap(self) -> str | None:
        """On the first run, create the admin with a generated password and return it (else None)."""
        if await self._store.count_users() > 0:
            return None
        password = generate_password()
        name = self._settings.admin_username
        await self._store.add_user(
            name,
            self._hasher.hash(password),
            Role.ADMIN.value,
            now=self._clock(),
            audit=self._audit(
                "kubecap", "user.create", f"user {name}", AuditResult.OK, after={"role": "admin"}
            ),
        )
        return password

    async def login(self, username: str, password: str, address: str) -> NewSession:
        key = f"{username}\x00{address}"
        await self.limiter.check(key)
        user = await self._store.user_by_name(username)
        ok = self._verify(user.password_hash if user else self._dummy, password)
        if user is None or not ok or user.disabled:
            await self.limiter.failed(key)
            await self._store.record_audit(
                self._audit(
                    username, "login", f"user {username}", AuditResult.REJECTED, message=f"from {address}"
                )
            )
            raise AuthError("wrong user name or password: check both and try again")
        await self.limiter.succeeded(key)
        return await self.start_session(user, f"from {address}")

    async def start_session(self, user: UserRecord, how: str) -> NewSession:
        """A new browser session for a user who proved who they are (password or OIDC), audited."""
        secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = self._clock()
        expires = now + timedelta(hours=self._settings.session_hours)
        await self._store.add_session(digest(secret), user.id, csrf, now=now, expires_at=expires)
        await self._store.record_audit(
            self._audit(user.username, "login", f"user {user.username}", AuditResult.OK, message=how)
        )
        principal = Principal(user.id, user.username, Role(user.role), "session", csrf, digest(secret))
        return NewSession(secret, csrf, expires, principal)

    def unusable_password(self) -> str:
        """The stored hash of users who only sign in through OIDC: a hash of a random secret nobody keeps."""
        return self._hasher.hash(secrets.token_urlsafe(32))

    def audit_event(
        self, actor: str, action: str, target: str, result: AuditResult, **details: Any
    ) -> AuditEvent:
        return self._audit(actor, action, target, result, **details)

    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return self._hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    async def logout(self, principal: Principal) -> None:
        if principal.session_digest is not None:
            await self._store.remove_session(principal.session_digest)
            await self._store.record_audit(
                self._audit(principal.username, "logout", f"user {principal.username}", AuditResult.OK)
            )

    async def from_session(self, secret: str) -> Principal:
        found = await self._store.session(digest(secret), now=self._clock())
        if found is None or found[1].disabled:
            raise AuthError("the session has expired or was ended: log in again")
        session, user = found
        return Principal(user.id, user.username, Role(user.role), "session", session.csrf, digest(secret))

    async def from_token(self, secret: str) -> Principal:
        user = await self._store.token_user(digest(secret), now=self._clock())
        if user is None or user.disabled:
            raise AuthError("the API token is unknown, revoked or expired: create a new one")
        return Principal(user.id, user.username, Role(user.role), "token")

    async def users(self) -> list[UserRecord]:
        return await self._store.users()

    async def create_user(
        self, actor: str, username: str, role: Role, password: str | None
    ) -> tuple[UserRecord, str | None]:
        """Create a user; without ``password`` one is generated and returned (shown once)."""
        generated = None
        if password is None:
            password = generated = generate_password()
        check_password_strength(password)
        user = await self._store.add_user(
            username,
            self._hasher.hash(password),
            role.value,
            now=self._clock(),
            audit=self._audit(
                actor, "user.create", f"user {username}", AuditResult.OK, after={"role": role.value}
            ),
        )
        return user, generated

    async def update_user(
        self, actor: str, user_id: int, *, role: Role | None, password: str | None, disabled: bool | None
    ) -> UserRecord:
        if password is not None:
            check_password_strength(password)
        before = await self._store.user(user_id)
        after = {
            k: v
            for k, v in (
                ("role", role.value if role else None),
                ("disabled", disabled),
                ("password", "changed" if password else None),
            )
            if v is not None
        }
        return await self._store.update_user(
            user_id,
            role=role.value if role else None,
            password_hash=self._hasher.hash(password) if password else None,
            disabled=disabled,
            audit=self._audit(
                actor,
                "user.update",
                f"user {before.username}",
                AuditResult.OK,
                before={"role": before.role, "disabled": before.disabled},
                after=after,
            ),
        )

    async def create_token(
        self, principal: Principal, name: str, days: int | None
    ) -> tuple[TokenRecord, str]:
        """A new token for the caller; the secret is returned once and never stored."""
        if not name.strip():
            raise ConfigError("a token needs a name: say what will use it, e.g. 'ci'")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        record = await self._store.add_api_token(
            principal.user_id,
            name,
            digest(secret),
            now=now,
            expires_at=now + timedelta(days=days) if days else None,
            audit=self._audit(principal.username, "token.create", f"token {name}", AuditResult.OK),
        )
        return record, secret

    async def tokens(self, principal: Principal) -> list[TokenRecord]:
        everyone = principal.role is Role.ADMIN
        return await self._store.api_tokens(user_id=None if everyone else principal.user_id)

    async def revoke_token(self, principal: Principal, token_id: int) -> None:
        token = await self._store.api_token(token_id)
        if token.user_id != principal.user_id and principal.role is not Role.ADMIN:
            # Someone else's token is reported as missing: its existence is not the caller's business.
            raise NotFoundError(f"API token {token_id} does not exist: list the tokens to see their ids")
        await self._store.remove_api_token(
            token_id,
            audit=self._audit(principal.username, "token.revoke", f"token {token.name}", AuditResult.OK),
        )
