"""Installing the webhook: its certificates in Secrets, its MutatingWebhookConfiguration, renewal and status.

The manifests are built by pure functions (``webhook_configuration``, ``secret_manifests``,
``cert_manager_manifests``), so ``kubecap webhook manifests`` prints exactly what
``install`` applies. The configuration is safe by default: ``failurePolicy: Ignore`` (an
unreachable webhook never blocks a Deployment change), a 3 s timeout, kube-system, kubecap's
own namespace and namespaces labelled ``kubecap.io/webhook=disabled`` excluded, objects with
that label excluded too, ``sideEffects: None``, ``matchPolicy: Equivalent`` and
``reinvocationPolicy: IfNeeded`` (safe: the patches are idempotent).

Install order keeps every call working during a rotation: the CA Secret first (its key is
never lost), then the configuration whose caBundle holds the new and the old CA, then the
serving Secret the pods reload.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from kubecap.cluster.port import ClusterPort
from kubecap.control.certs import (
    KeyPair,
    bundle,
    covers,
    make_ca,
    make_serving,
    needs_renewal,
    service_names,
    signed_by,
)
from kubecap.errors import ConfigError

WEBHOOK_NAME = "workloads.kubecap.io"
INJECT_CA = "cert-manager.io/inject-ca-from"
MANAGED = {"app.kubernetes.io/managed-by": "kubecap", "app.kubernetes.io/component": "webhook"}
OPT_OUT_VALUE = "disabled"


@dataclass(frozen=True, slots=True)
class InstallOptions:
    name: str = "kubecap"
    namespace: str = "kubecap"
    service: str = "kubecap-webhook"
    port: int = 443
    path: str = "/mutate"
    url: str | None = None
    tls_name: str = "kubecap-webhook-tls"
    ca_name: str = "kubecap-webhook-ca"
    failure_policy: Literal["Ignore", "Fail"] = "Ignore"
    timeout_seconds: int = 3
    opt_out_label: str = "kubecap.io/webhook"
    cert_manager: bool = False
    cert_days: int = 365
    ca_days: int = 3650
    renew_before_days: int = 30
    hosts: tuple[str, ...] = field(default_factory=tuple)

    def validate(self) -> InstallOptions:
        if not 1 <= self.timeout_seconds <= 30:
            raise ConfigError(
                f"timeout {self.timeout_seconds} s is outside 1..30 s, the range the apiserver accepts"
            )
        if self.url is not None:
            parts = urlsplit(self.url)
            if parts.scheme != "https" or not parts.hostname:
                raise ConfigError(f"webhook URL {self.url!r} must be https://HOST[:PORT]/PATH")
        if self.renew_before_days >= self.cert_days:
            raise ConfigError(
                f"renewing {self.renew_before_days} days before expiry needs certificates valid longer than "
                f"{self.cert_days} days: raise --cert-days"
            )
        return self

    @property
    def certificate(self) -> str:
        """The cert-manager Certificate's name (cert-manager mode)."""
        return f"{self.service}-serving"

    def serving_hosts(self) -> list[str]:
        if self.url is not None:
            return [str(urlsplit(self.url).hostname), *self.hosts]
        return [*service_names(self.service, self.namespace), *self.hosts]


def webhook_configuration(options: InstallOptions, ca_bundle: bytes | None) -> dict[str, Any]:
    """The MutatingWebhookConfiguration (caBundle from ``ca_bundle``, or injected by cert-manager)."""
    client: dict[str, Any]
    if options.url is not None:
        client = {"url": options.url}
    else:
        client = {
            "service": {
                "namespace": options.namespace,
                "name": options.service,
                "path": options.path,
                "port": options.port,
            }
        }
    if ca_bundle:
        client["caBundle"] = base64.b64encode(ca_bundle).decode()
    excluded = sorted({"kube-system", options.namespace})
    metadata: dict[str, Any] = {"name": options.name, "labels": dict(MANAGED)}
    if options.cert_manager:
        metadata["annotations"] = {INJECT_CA: f"{options.namespace}/{options.certificate}"}
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": metadata,
        "webhooks": [
            {
                "name": WEBHOOK_NAME,
                "clientConfig": client,
                "rules": [
                    {
                        "apiGroups": ["apps"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": [
                            "deployments",
                            "statefulsets",
                            "deployments/scale",
                            "statefulsets/scale",
                        ],
                        "scope": "Namespaced",
                    }
                ],
                "namespaceSelector": {
                    "matchExpressions": [
                        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": excluded},
                        {"key": options.opt_out_label, "operator": "NotIn", "values": [OPT_OUT_VALUE]},
                    ]
                },
                "objectSelector": {
                    "matchExpressions": [
                        {"key": options.opt_out_label, "operator": "NotIn", "values": [OPT_OUT_VALUE]}
                    ]
                },
                "failurePolicy": options.failure_policy,
                "matchPolicy": "Equivalent",
                "sideEffects": "None",
                "timeoutSeconds": options.timeout_seconds,
                "admissionReviewVersions": ["v1"],
                "reinvocationPolicy": "IfNeeded",
            }
        ],
    }


def _secret(namespace: str, name: str, kind: str, data: dict[str, bytes]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(MANAGED)},
        "type": kind,
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }


def _tls_data(serving: KeyPair, ca_bundle: bytes) -> dict[str, bytes]:
    return {"tls.crt": serving.cert_pem, "tls.key": serving.key_pem, "ca.crt": ca_bundle}


def _ca_data(ca: KeyPair) -> dict[str, bytes]:
    return {"ca.crt": ca.cert_pem, "ca.key": ca.key_pem}


def secret_manifests(options: InstallOptions, ca: KeyPair, serving: KeyPair) -> list[dict[str, Any]]:
    return [
        _secret(options.namespace, options.ca_name, "Opaque", _ca_data(ca)),
        _secret(options.namespace, options.tls_name, "kubernetes.io/tls", _tls_data(serving, ca.cert_pem)),
    ]


def cert_manager_manifests(options: InstallOptions) -> list[dict[str, Any]]:
    """A self-signed root, a CA Issuer over it, and the serving Certificate into ``options.tls_name``."""
    ns = options.namespace
    root = f"{options.service}-selfsigned"
    ca_name = f"{options.service}-ca"
    api = "cert-manager.io/v1"
    return [
        {
            "apiVersion": api,
            "kind": "Issuer",
            "metadata": {"name": root, "namespace": ns},
            "spec": {"selfSigned": {}},
        },
        {
            "apiVersion": api,
            "kind": "Certificate",
            "metadata": {"name": ca_name, "namespace": ns},
            "spec": {
                "isCA": True,
                "commonName": ca_name,
                "secretName": options.ca_name,
                "duration": f"{options.ca_days * 24}h",
                "privateKey": {"algorithm": "ECDSA", "size": 256},
                "issuerRef": {"name": root, "kind": "Issuer", "group": "cert-manager.io"},
            },
        },
        {
            "apiVersion": api,
            "kind": "Issuer",
            "metadata": {"name": ca_name, "namespace": ns},
            "spec": {"ca": {"secretName": options.ca_name}},
        },
        {
            "apiVersion": api,
            "kind": "Certificate",
            "metadata": {"name": options.certificate, "namespace": ns},
            "spec": {
                "secretName": options.tls_name,
                "dnsNames": options.serving_hosts(),
                "duration": f"{options.cert_days * 24}h",
                "renewBefore": f"{options.renew_before_days * 24}h",
                "privateKey": {"algorithm": "ECDSA", "size": 256},
                "issuerRef": {"name": ca_name, "kind": "Issuer", "group": "cert-manager.io"},
            },
        },
    ]


def _pair(data: dict[str, bytes] | None, cert: str, key: str) -> KeyPair | None:
    if not data or cert not in data or key not in data:
        return None
    pair = KeyPair(data[cert], data[key])
    try:
        pair.certificate  # noqa: B018 - parse once: a corrupt Secret is replaced, never trusted
    except ValueError:
        return None
    return pair


@dataclass(frozen=True, slots=True)
class Report:
    """What install did, and the certificates in use."""

    actions: list[str]
    serving_expires: datetime | None = None
    ca_expires: datetime | None = None


async def install(cluster: ClusterPort, options: InstallOptions, now: datetime) -> Report:
    """Create or renew the certificates, then apply the configuration; idempotent (safe on a schedule)."""
    options.validate()
    actions: list[str] = []
    if options.cert_manager:
        await cluster.put_mutating_webhook(webhook_configuration(options, None))
        actions.append(
            f"applied MutatingWebhookConfiguration {options.name} (caBundle injected by cert-manager from "
            f"{options.namespace}/{options.certificate}: apply `kubecap webhook manifests --cert-manager`)"
        )
        return Report(actions)
    before = timedelta(days=options.renew_before_days)
    stored_ca = _pair(await cluster.get_secret(options.namespace, options.ca_name), "ca.crt", "ca.key")
    ca = stored_ca
    if ca is None or needs_renewal(ca, now, before + timedelta(days=options.cert_days)):
        ca = make_ca(f"kubecap webhook CA ({options.namespace})", now, options.ca_days)
        await cluster.put_secret(
            options.namespace, options.ca_name, _ca_data(ca), kind="Opaque", labels=dict(MANAGED)
        )
        actions.append(
            f"{'renewed' if stored_ca else 'created'} the CA in Secret {options.namespace}/{options.ca_name}"
        )
    ca_bundle = bundle(now, ca.cert_pem, stored_ca.cert_pem if stored_ca else b"")
    hosts = options.serving_hosts()
    stored = _pair(await cluster.get_secret(options.namespace, options.tls_name), "tls.crt", "tls.key")
    serving = stored
    renew = (
        serving is None
        or needs_renewal(serving, now, before)
        or not signed_by(serving, ca)
        or not covers(serving, hosts)
    )
    current = await cluster.get_mutating_webhook(options.name)
    wanted = webhook_configuration(options, ca_bundle)
    if current is None or _differs(current, wanted):
        await cluster.put_mutating_webhook(wanted)
        actions.append(f"applied MutatingWebhookConfiguration {options.name}")
    if renew or serving is None:
        serving = make_serving(ca, hosts, now, options.cert_days)
        await cluster.put_secret(
            options.namespace,
            options.tls_name,
            _tls_data(serving, ca_bundle),
            kind="kubernetes.io/tls",
            labels=dict(MANAGED),
        )
        actions.append(
            f"{'renewed' if stored else 'created'} the serving certificate in Secret "
            f"{options.namespace}/{options.tls_name} for {', '.join(hosts)}"
        )
    if not actions:
        actions.append("nothing to do: the certificates are valid and the configuration is current")
    return Report(actions, serving.not_after, ca.not_after)


def _differs(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    annotations = (current.get("metadata") or {}).get("annotations") or {}
    wanted_annotations = wanted["metadata"].get("annotations") or {}
    if annotations.get(INJECT_CA) != wanted_annotations.get(INJECT_CA):
        return True
    return bool(current.get("webhooks") != wanted["webhooks"])


async def uninstall(
    cluster: ClusterPort, options: InstallOptions, *, keep_secrets: bool = False
) -> list[str]:
    """Delete the configuration (the webhook is no longer called), then, unless kept, its Secrets."""
    actions = []
    deleted = await cluster.delete_mutating_webhook(options.name)
    actions.append(
        f"deleted MutatingWebhookConfiguration {options.name}"
        if deleted
        else f"MutatingWebhookConfiguration {options.name} did not exist"
    )
    if not keep_secrets:
        for name in (options.tls_name, options.ca_name):
            if await cluster.delete_secret(options.namespace, name):
                actions.append(f"deleted Secret {options.namespace}/{name}")
    return actions


@dataclass(frozen=True, slots=True)
class Status:
    installed: bool
    problems: list[str]
    facts: dict[str, Any]


async def status(cluster: ClusterPort, options: InstallOptions, now: datetime) -> Status:
    """What is installed, and every problem with it (each one sentence with its fix)."""
    facts: dict[str, Any] = {}
    problems: list[str] = []
    current = await cluster.get_mutating_webhook(options.name)
    if current is None:
        return Status(
            False,
            [f"MutatingWebhookConfiguration {options.name} is not installed: run `kubecap webhook install`"],
            facts,
        )
    hooks = current.get("webhooks") or []
    hook = next((w for w in hooks if w.get("name") == WEBHOOK_NAME), None)
    if hook is None:
        problems.append(
            f"{options.name} has no webhook named {WEBHOOK_NAME}: run `kubecap webhook install` again"
        )
        return Status(True, problems, facts)
    facts.update(
        failurePolicy=hook.get("failurePolicy"),
        timeoutSeconds=hook.get("timeoutSeconds"),
        client=hook.get("clientConfig", {}).get("service") or hook.get("clientConfig", {}).get("url"),
    )
    annotations = (current.get("metadata") or {}).get("annotations") or {}
    if INJECT_CA in annotations:
        facts["certManager"] = annotations[INJECT_CA]
        if not hook.get("clientConfig", {}).get("caBundle"):
            problems.append(
                "cert-manager has not injected the caBundle yet: check that cert-manager's cainjector runs"
            )
        return Status(True, problems, facts)
    serving = _pair(await cluster.get_secret(options.namespace, options.tls_name), "tls.crt", "tls.key")
    ca = _pair(await cluster.get_secret(options.namespace, options.ca_name), "ca.crt", "ca.key")
    if serving is None or ca is None:
        problems.append(
            f"Secret {options.namespace}/{options.tls_name if serving is None else options.ca_name} is missing or "
            "invalid: run `kubecap webhook install`"
        )
        return Status(True, problems, facts)
    facts["servingExpires"] = serving.not_after.isoformat()
    facts["caExpires"] = ca.not_after.isoformat()
    try:
        trusted = base64.b64decode(hook.get("clientConfig", {}).get("caBundle") or "")
    except ValueError:
        trusted = b""
    if ca.cert_pem not in trusted:
        problems.append("the caBundle does not hold the CA in the Secret: run `kubecap webhook install`")
    if not signed_by(serving, ca):
        problems.append("the serving certificate is not signed by the CA: run `kubecap webhook install`")
    if needs_renewal(serving, now, timedelta(days=options.renew_before_days)):
        problems.append(
            f"the serving certificate expires {serving.not_after.isoformat()}: run `kubecap webhook install` to renew it"
        )
    return Status(True, problems, facts)
