"""Login, logout, the caller, users (admin) and API tokens (each user their own; admins all)."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from kubecap.api.auth import CSRF_COOKIE, SESSION_COOKIE, NewSession, Principal, Role
from kubecap.api.context import context
from kubecap.api.oidc import OidcService
from kubecap.api.problems import AuthError
from kubecap.api.security import Admin, Viewer, public
from kubecap.errors import KubecapError, NotFoundError
from kubecap.store.auth_repo import TokenRecord, UserRecord

router = APIRouter(prefix="/api", tags=["auth"])
LOGIN_ERROR_COOKIE = "kubecap_login_error"


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class NewUser(BaseModel):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    role: Role = Role.VIEWER
    password: str | None = Field(None, description="omit to have one generated (shown once)")


class UserChange(BaseModel):
    role: Role | None = None
    password: str | None = None
    disabled: bool | None = None


class NewToken(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    days: int | None = Field(None, ge=1, le=3650, description="expiry in days; omit for none")


def user_dict(user: UserRecord) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "disabled": user.disabled,
        "created_at": user.created_at.isoformat(),
    }


def token_dict(token: TokenRecord) -> dict[str, Any]:
    return {
        "id": token.id,
        "user_id": token.user_id,
        "name": token.name,
        "created_at": token.created_at.isoformat(),
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
    }


def secure(request: Request) -> bool:
    mode = context(request).settings.api.secure_cookies
    return mode == "always" or (mode == "auto" and request.url.scheme == "https")


def me_dict(principal: Principal) -> dict[str, Any]:
    return {
        "id": principal.user_id,
        "username": principal.username,
        "role": principal.role.value,
        "via": principal.via,
    }


@router.post("/auth/login")
@public
async def login(body: Login, request: Request, response: Response) -> dict[str, Any]:
    """Start a browser session: sets the HttpOnly session cookie and returns the CSRF token."""
    address = request.client.host if request.client else "unknown"
    session = await context(request).auth.login(body.username, body.password, address)
    set_session_cookies(request, response, session)
    return {
        "user": me_dict(session.principal),
        "csrf_token": session.csrf,
        "expires_at": session.expires_at.isoformat(),
    }


@router.post("/auth/logout", status_code=204)
async def logout(principal: Viewer, request: Request, response: Response) -> None:
    await context(request).auth.logout(principal)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")


@router.get("/auth/me")
async def me(principal: Viewer) -> dict[str, Any]:
    return me_dict(principal)


@router.get("/users")
async def list_users(principal: Admin, request: Request) -> list[dict[str, Any]]:
    return [user_dict(u) for u in await context(request).auth.users()]


@router.post("/users", status_code=201)
async def create_user(body: NewUser, principal: Admin, request: Request) -> dict[str, Any]:
    """Create a user; a generated password is returned once in ``password``."""
    user, generated = await context(request).auth.create_user(
        principal.username, body.username, body.role, body.password
    )
    return {**user_dict(user), "password": generated}


@router.patch("/users/{user_id}")
async def change_user(user_id: int, body: UserChange, principal: Admin, request: Request) -> dict[str, Any]:
    user = await context(request).auth.update_user(
        principal.username, user_id, role=body.role, password=body.password, disabled=body.disabled
    )
    return user_dict(user)


@router.get("/tokens")
async def list_tokens(principal: Viewer, request: Request) -> list[dict[str, Any]]:
    return [token_dict(t) for t in await context(request).auth.tokens(principal)]


@router.post("/tokens", status_code=201)
async def create_token(body: NewToken, principal: Viewer, request: Request) -> dict[str, Any]:
    """A token acting as the caller; ``token`` is shown here once and never again."""
    record, secret = await context(request).auth.create_token(principal, body.name, body.days)
    return {**token_dict(record), "token": secret}


@router.delete("/tokens/{token_id}", status_code=204)
async def revoke_token(token_id: int, principal: Viewer, request: Request) -> None:
    await context(request).auth.revoke_token(principal, token_id)


# --- OIDC (optional): the browser goes to the provider and comes back with a code ----------------


def _oidc(request: Request) -> OidcService:
    service: OidcService | None = getattr(request.app.state, "oidc", None)
    if service is None:
        raise NotFoundError(
            "OIDC login is not configured: set oidc.issuer and oidc.client_id, or log in with a password"
        )
    return service


def _callback_url(request: Request) -> str:
    oidc = context(request).settings.oidc
    return oidc.redirect_url if oidc and oidc.redirect_url else str(request.url_for("oidc_callback"))


def set_session_cookies(
    request: Request, response: Response, session: NewSession, *, lax: bool = False
) -> None:
    max_age = int((session.expires_at - context(request).clock()).total_seconds())
    # ``lax`` for OIDC sessions: the callback is a navigation started on the provider's site, and a
    # Strict cookie is withheld on the redirect that follows it. Mutations still need the CSRF header.
    flags: dict[str, Any] = {"max_age": max_age, "secure": secure(request), "path": "/"}
    samesite: Literal["lax", "strict"] = "lax" if lax else "strict"
    response.set_cookie(SESSION_COOKIE, session.secret, httponly=True, samesite=samesite, **flags)
    # Readable by the page's script, which echoes it in the X-CSRF-Token header.
    response.set_cookie(CSRF_COOKIE, session.csrf, httponly=False, samesite="strict", **flags)


@router.get("/auth/oidc/login")
@public
async def oidc_login(request: Request) -> RedirectResponse:
    """Start an OIDC login: a redirect to the identity provider (authorization code, PKCE S256)."""
    url = await _oidc(request).begin(_callback_url(request))
    return RedirectResponse(url, status_code=302)


@router.get("/auth/oidc/callback", name="oidc_callback")
@public
async def oidc_callback(
    request: Request, code: str | None = None, state: str | None = None, error: str | None = None
) -> RedirectResponse:
    """Where the provider sends the browser back: on success a session and the UI, else the login page
    with one sentence saying what went wrong."""
    service = _oidc(request)
    try:
        if error:
            raise AuthError(f"the identity provider answered {error!r}: try again or ask an admin")
        if not code or not state:
            raise AuthError("the identity provider sent no code or state: start the sign-in again")
        session = await service.finish(code, state, _callback_url(request))
    except KubecapError as exc:
        # The sentence travels in a short-lived cookie, not the URL: a link with made-up text in it
        # must not be able to make the login page say something kubecap did not.
        failed = RedirectResponse("/login", status_code=303)
        failed.set_cookie(
            LOGIN_ERROR_COOKIE, quote(str(exc)), max_age=120, httponly=True, samesite="lax", path="/login"
        )
        return failed
    response = RedirectResponse("/", status_code=303)
    set_session_cookies(request, response, session, lax=True)
    return response
