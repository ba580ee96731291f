"""Login, logout, the caller, users (admin) and API tokens (each user their own; admins all)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from kubecap.api.auth import CSRF_COOKIE, SESSION_COOKIE, Principal, Role
from kubecap.api.context import context
from kubecap.api.security import Admin, Viewer, public
from kubecap.store.auth_repo import TokenRecord, UserRecord

router = APIRouter(prefix="/api", tags=["auth"])


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
    max_age = int((session.expires_at - context(request).clock()).total_seconds())
    flags: dict[str, Any] = {"max_age": max_age, "secure": secure(request), "samesite": "strict", "path": "/"}
    response.set_cookie(SESSION_COOKIE, session.secret, httponly=True, **flags)
    # Readable by the page's script, which echoes it in the X-CSRF-Token header.
    response.set_cookie(CSRF_COOKIE, session.csrf, httponly=False, **flags)
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
