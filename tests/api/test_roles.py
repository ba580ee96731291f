"""Every route of the app has an authorisation rule, and the server enforces exactly that rule.

EXPECTED is the contract: a route added to the app without an entry here fails this test,
and so does a route whose rule differs. Each rule is then checked over HTTP: without
credentials, and with a viewer's, an operator's and an admin's API token.
"""

from __future__ import annotations

import re

import pytest

from kubecap.api.app import create_app, route_rules
from kubecap.api.context import ApiContext
from kubecap.config import Settings
from kubecap.store import Store
from tests.api.conftest import Server

EXPECTED: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "public",
    ("GET", "/readyz"): "public",
    ("GET", "/metrics"): "public",
    ("GET", "/api/openapi.json"): "public",
    ("GET", "/api/docs"): "public",
    ("GET", "/api/docs/oauth2-redirect"): "public",
    ("POST", "/api/auth/login"): "public",
    ("POST", "/api/auth/logout"): "viewer",
    ("GET", "/api/auth/me"): "viewer",
    ("GET", "/api/users"): "admin",
    ("POST", "/api/users"): "admin",
    ("PATCH", "/api/users/{user_id}"): "admin",
    ("GET", "/api/tokens"): "viewer",
    ("POST", "/api/tokens"): "viewer",
    ("DELETE", "/api/tokens/{token_id}"): "viewer",
    ("GET", "/api/clusters"): "viewer",
    ("GET", "/api/overview"): "viewer",
    ("GET", "/api/cost"): "viewer",
    ("GET", "/api/cost/idle-nodes"): "viewer",
    ("GET", "/api/cost/outlook"): "viewer",
    ("GET", "/api/cost/savings"): "viewer",
    ("GET", "/api/predict/policies"): "viewer",
    ("PUT", "/api/predict/policies/{cluster}/{namespace}/{kind}/{name}"): "operator",
    ("DELETE", "/api/predict/policies/{cluster}/{namespace}/{kind}/{name}"): "operator",
    ("GET", "/api/workloads"): "viewer",
    ("GET", "/api/workloads/{cluster}/{namespace}/{kind}/{name}"): "viewer",
    ("GET", "/api/recommendations"): "viewer",
    ("POST", "/api/recommendations/approve"): "operator",
    ("GET", "/api/control/specs"): "viewer",
    ("GET", "/api/control/policies"): "viewer",
    ("PUT", "/api/control/specs/{cluster}/{namespace}/{kind}/{name}"): "operator",
    ("DELETE", "/api/control/specs/{cluster}/{namespace}/{kind}/{name}"): "operator",
    ("PUT", "/api/control/policies/{cluster}/{namespace}"): "admin",
    ("DELETE", "/api/control/policies/{cluster}/{namespace}"): "admin",
    ("GET", "/api/nodes"): "viewer",
    ("GET", "/api/settings"): "viewer",
    ("POST", "/api/settings/prometheus/test"): "operator",
    ("GET", "/api/settings/prices"): "viewer",
    ("PUT", "/api/settings/prices/{scope}/{name}"): "admin",
    ("DELETE", "/api/settings/prices/{scope}/{name}"): "admin",
    ("GET", "/api/settings/channels"): "viewer",
    ("PUT", "/api/settings/channels/{name}"): "admin",
    ("DELETE", "/api/settings/channels/{name}"): "admin",
    ("POST", "/api/settings/channels/{name}/test"): "admin",
    ("GET", "/api/auth/oidc/login"): "public",
    ("GET", "/api/auth/oidc/callback"): "public",
    ("GET", "/api/tasks"): "viewer",
    ("POST", "/api/tasks"): "operator",
    ("GET", "/api/tasks/{task_id}"): "viewer",
    ("POST", "/api/tasks/{task_id}/cancel"): "operator",
    ("POST", "/api/tasks/{task_id}/pause"): "operator",
    ("POST", "/api/tasks/{task_id}/resume"): "operator",
    ("GET", "/api/audit"): "viewer",
    ("GET", "/api/audit/export"): "viewer",
}
ROLES = ("viewer", "operator", "admin")
# FastAPI's own documentation routes are plain Starlette routes, always open.
DOCS = {("GET", "/api/openapi.json"), ("GET", "/api/docs"), ("GET", "/api/docs/oauth2-redirect")}


async def app_rules(settings: Settings) -> dict[tuple[str, str], str]:
    async with await Store.open(settings.database_url) as store:
        return route_rules(create_app(ApiContext.build(settings, store)))


async def test_every_route_has_the_expected_rule(seeded: Settings) -> None:
    rules = await app_rules(seeded)
    assert rules == {k: v for k, v in EXPECTED.items() if k not in DOCS}


def concrete(path: str) -> str:
    # Ids that exist nowhere: a permitted caller gets 404 or 422, never 401/403.
    return re.sub(r"\{[a-z_]+\}", lambda m: "999999" if m.group(0).endswith("id}") else "none", path)


@pytest.mark.parametrize(("method", "path"), sorted(EXPECTED))
def test_the_server_enforces_the_rule(server: Server, tokens: dict[str, str], method: str, path: str) -> None:
    rule = EXPECTED[(method, path)]
    with server.client() as client:
        anonymous = client.request(method, concrete(path), json={})
        if rule == "public":
            assert anonymous.status_code not in (401, 403), anonymous.text
            return
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"] == "application/problem+json"
        for role in ROLES:
            answer = client.request(
                method, concrete(path), json={}, headers={"Authorization": f"Bearer {tokens[role]}"}
            )
            if ROLES.index(role) >= ROLES.index(rule):
                assert answer.status_code not in (401, 403), f"{role}: {answer.text}"
            else:
                assert answer.status_code == 403, f"{role}: {answer.text}"
                assert answer.json()["type"].endswith("/forbidden")
