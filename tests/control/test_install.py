"""Installation: certificates in Secrets, the MutatingWebhookConfiguration, renewal, cert-manager, status."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubecap.control.certs import KeyPair, bundle, covers, make_ca, make_serving, needs_renewal, signed_by
from kubecap.control.install import (
    INJECT_CA,
    InstallOptions,
    cert_manager_manifests,
    install,
    status,
    uninstall,
    webhook_configuration,
)
from kubecap.errors import ConfigError
from kubecap.testing.cluster import InMemoryCluster

NOW = datetime(2026, 11, 23, tzinfo=UTC)
OPTIONS = InstallOptions()


def hook(cluster: InMemoryCluster) -> dict[str, Any]:
    configuration = cluster.mutating_webhooks["kubecap"]
    result: dict[str, Any] = configuration["webhooks"][0]
    return result


def pairs(cluster: InMemoryCluster) -> tuple[KeyPair, KeyPair]:
    ca = cluster.secrets[("kubecap", "kubecap-webhook-ca")][1]
    tls = cluster.secrets[("kubecap", "kubecap-webhook-tls")][1]
    return KeyPair(ca["ca.crt"], ca["ca.key"]), KeyPair(tls["tls.crt"], tls["tls.key"])


async def test_install_creates_the_certificates_and_a_safe_configuration() -> None:
    cluster = InMemoryCluster()
    report = await install(cluster, OPTIONS, NOW)
    assert len(report.actions) == 3
    ca, serving = pairs(cluster)
    assert signed_by(serving, ca)
    assert covers(serving, ["kubecap-webhook.kubecap.svc", "kubecap-webhook.kubecap.svc.cluster.local"])
    assert cluster.secrets[("kubecap", "kubecap-webhook-tls")][0] == "kubernetes.io/tls"
    webhook = hook(cluster)
    assert base64.b64decode(webhook["clientConfig"]["caBundle"]) == ca.cert_pem
    assert webhook["clientConfig"]["service"] == {
        "namespace": "kubecap",
        "name": "kubecap-webhook",
        "path": "/mutate",
        "port": 443,
    }
    assert webhook["failurePolicy"] == "Ignore"
    assert webhook["timeoutSeconds"] == 3
    assert webhook["sideEffects"] == "None"
    assert webhook["admissionReviewVersions"] == ["v1"]
    assert webhook["matchPolicy"] == "Equivalent"
    assert webhook["reinvocationPolicy"] == "IfNeeded"
    assert webhook["rules"][0]["resources"] == [
        "deployments",
        "statefulsets",
        "deployments/scale",
        "statefulsets/scale",
    ]
    expressions = webhook["namespaceSelector"]["matchExpressions"]
    assert {
        "key": "kubernetes.io/metadata.name",
        "operator": "NotIn",
        "values": ["kube-system", "kubecap"],
    } in expressions
    assert {"key": "kubecap.io/webhook", "operator": "NotIn", "values": ["disabled"]} in expressions
    assert webhook["objectSelector"]["matchExpressions"] == [
        {"key": "kubecap.io/webhook", "operator": "NotIn", "values": ["disabled"]}
    ]
    again = await install(cluster, OPTIONS, NOW + timedelta(days=1))
    assert again.actions == ["nothing to do: the certificates are valid and the configuration is current"]
    assert (await status(cluster, OPTIONS, NOW)).problems == []


async def test_the_serving_certificate_is_renewed_before_expiry_with_the_same_ca() -> None:
    cluster = InMemoryCluster()
    await install(cluster, OPTIONS, NOW)
    ca, serving = pairs(cluster)
    bundle_before = hook(cluster)["clientConfig"]["caBundle"]
    later = NOW + timedelta(days=OPTIONS.cert_days - OPTIONS.renew_before_days + 1)
    assert any("expires" in p for p in (await status(cluster, OPTIONS, later)).problems)
    report = await install(cluster, OPTIONS, later)
    assert report.actions == [
        "renewed the serving certificate in Secret kubecap/kubecap-webhook-tls for kubecap-webhook, "
        "kubecap-webhook.kubecap, kubecap-webhook.kubecap.svc, kubecap-webhook.kubecap.svc.cluster.local"
    ]
    new_ca, renewed = pairs(cluster)
    assert new_ca == ca and renewed != serving and signed_by(renewed, ca)
    assert hook(cluster)["clientConfig"]["caBundle"] == bundle_before


async def test_a_ca_near_its_end_is_renewed_and_both_are_trusted_meanwhile() -> None:
    cluster = InMemoryCluster()
    await install(cluster, OPTIONS, NOW)
    old_ca, _ = pairs(cluster)
    later = NOW + timedelta(days=OPTIONS.ca_days - OPTIONS.cert_days)
    await install(cluster, OPTIONS, later)
    new_ca, serving = pairs(cluster)
    assert new_ca != old_ca and signed_by(serving, new_ca)
    trusted = base64.b64decode(hook(cluster)["clientConfig"]["caBundle"])
    assert old_ca.cert_pem in trusted and new_ca.cert_pem in trusted


async def test_cert_manager_mode_injects_the_ca_and_names_the_certificate() -> None:
    cluster = InMemoryCluster()
    options = InstallOptions(cert_manager=True)
    await install(cluster, options, NOW)
    configuration = cluster.mutating_webhooks["kubecap"]
    assert configuration["metadata"]["annotations"] == {INJECT_CA: "kubecap/kubecap-webhook-serving"}
    assert "caBundle" not in configuration["webhooks"][0]["clientConfig"]
    assert cluster.secrets == {}
    kinds = [(d["kind"], d["metadata"]["name"]) for d in cert_manager_manifests(options)]
    assert ("Certificate", "kubecap-webhook-serving") in kinds
    problems = (await status(cluster, options, NOW)).problems
    assert problems == [
        "cert-manager has not injected the caBundle yet: check that cert-manager's cainjector runs"
    ]


async def test_uninstall_is_the_switch_off() -> None:
    cluster = InMemoryCluster()
    await install(cluster, OPTIONS, NOW)
    actions = await uninstall(cluster, OPTIONS)
    assert actions[0] == "deleted MutatingWebhookConfiguration kubecap"
    assert cluster.mutating_webhooks == {} and cluster.secrets == {}
    found = await status(cluster, OPTIONS, NOW)
    assert not found.installed and "kubecap webhook install" in found.problems[0]


def test_url_mode_and_bad_options() -> None:
    options = InstallOptions(url="https://10.0.0.5:8443/mutate")
    assert webhook_configuration(options, b"ca")["webhooks"][0]["clientConfig"]["url"] == options.url
    assert options.serving_hosts() == ["10.0.0.5"]
    with pytest.raises(ConfigError, match="must be https"):
        InstallOptions(url="http://x/mutate").validate()
    with pytest.raises(ConfigError, match=r"outside 1\.\.30"):
        InstallOptions(timeout_seconds=31).validate()


def test_certificates() -> None:
    ca = make_ca("test", NOW, 10)
    serving = make_serving(ca, ["a.example", "127.0.0.1"], NOW, 400)
    assert serving.not_after == ca.not_after  # never outlives its CA
    assert covers(serving, ["a.example", "127.0.0.1"]) and not covers(serving, ["b.example"])
    assert not needs_renewal(serving, NOW, timedelta(days=1))
    assert needs_renewal(serving, NOW + timedelta(days=9, hours=1), timedelta(days=1))
    assert needs_renewal(None, NOW, timedelta(days=1))
    other = make_ca("other", NOW, 10)
    assert not signed_by(serving, other)
    expired = make_ca("old", NOW - timedelta(days=30), 1)
    assert bundle(NOW, ca.cert_pem, expired.cert_pem, ca.cert_pem) == ca.cert_pem
