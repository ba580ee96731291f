"""``kubecap webhook``: serve the admission webhook, install it into a cluster, check it, remove it.

``manifests`` prints the YAML ``install`` would apply, without touching a cluster (with a
freshly made CA and serving certificate, or the cert-manager objects with --cert-manager).
In an emergency, ``kubecap webhook uninstall`` (or ``kubectl delete
mutatingwebhookconfiguration kubecap``) stops every call to the webhook at once.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
import yaml

from kubecap import wiring
from kubecap.cli.common import ConfigOption, DatabaseOption, err
from kubecap.cli.ops import ContextOption, KubeconfigOption, choose_cluster, kube_options, notifier
from kubecap.cluster.kube import KubeCluster
from kubecap.config import Settings, load_settings
from kubecap.control.certs import make_ca, make_serving
from kubecap.control.install import (
    InstallOptions,
    cert_manager_manifests,
    install,
    secret_manifests,
    status,
    uninstall,
    webhook_configuration,
)
from kubecap.domain.workload import WorkloadRef
from kubecap.errors import KubecapError
from kubecap.ops.notify import Notifier

ClusterName = Annotated[
    str | None, typer.Option("--cluster", help="Cluster name (default: webhook.cluster, or the only one).")
]
NamespaceFlag = Annotated[
    str | None, typer.Option("--namespace", help="kubecap's namespace (default: webhook.namespace).")
]
ServiceFlag = Annotated[
    str | None, typer.Option("--service", help="The webhook's Service (default: webhook.service).")
]
UrlFlag = Annotated[str | None, typer.Option("--url", help="Call this https URL instead of a Service.")]
FailureFlag = Annotated[
    str | None, typer.Option("--failure-policy", help="Ignore (default: never block) or Fail.")
]
CertManagerFlag = Annotated[
    bool | None, typer.Option("--cert-manager/--self-signed", help="Certificates from cert-manager.")
]
TimeoutFlag = Annotated[int | None, typer.Option("--timeout", help="Seconds the apiserver waits (1-30).")]
HostFlag = Annotated[
    list[str] | None, typer.Option("--host", help="Extra name or IP in the serving certificate (repeat).")
]


def _options(
    settings: Settings,
    namespace: str | None,
    service: str | None,
    url: str | None,
    failure_policy: str | None,
    cert_manager: bool | None,
    timeout: int | None,
    hosts: list[str] | None,
) -> InstallOptions:
    if failure_policy is not None and failure_policy not in ("Ignore", "Fail"):
        from kubecap.errors import ConfigError

        raise ConfigError(f"--failure-policy {failure_policy!r} must be Ignore or Fail")
    policy: Literal["Ignore", "Fail"] | None = (
        "Fail" if failure_policy == "Fail" else ("Ignore" if failure_policy == "Ignore" else None)
    )
    return wiring.install_options(
        settings,
        namespace=namespace,
        service=service,
        url=url,
        failure_policy=policy,
        cert_manager=cert_manager,
        timeout_seconds=timeout,
        hosts=tuple(hosts) if hosts else None,
    )


def _connect(
    settings: Settings, cluster: str | None, kubeconfig: Path | None, context: str | None
) -> KubeCluster:
    choice = choose_cluster(settings, cluster or settings.webhook.cluster)
    return KubeCluster.connect(kube_options(choice.name, choice.kubernetes, kubeconfig, context))


@asynccontextmanager
async def _connected(
    settings: Settings, cluster: str | None, kubeconfig: Path | None, context: str | None
) -> AsyncIterator[KubeCluster]:
    """The cluster adapter for one command, closed when it is done."""
    adapter = _connect(settings, cluster, kubeconfig, context)
    try:
        yield adapter
    finally:
        await adapter.close()


async def _notifier(settings: Settings, store: Any) -> Notifier | None:
    """The apprise notifier for rejections and registrations; None without channels.

    A channel kubecap cannot use is logged and notifications are off: the webhook must serve.
    """
    try:
        found = notifier(settings, await store.notification_channels())
    except KubecapError as exc:
        logging.getLogger("kubecap.webhook").warning("webhook notifications are off: %s", exc)
        return None
    return found if found.channels else None


def serve_command(
    cert_file: Annotated[
        Path | None, typer.Option(help="Serving certificate (default: webhook.cert_file).")
    ] = None,
    key_file: Annotated[Path | None, typer.Option(help="Its key (default: webhook.key_file).")] = None,
    host: Annotated[str | None, typer.Option(help="Listen address (default: webhook.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default: webhook.port, 8443).")] = None,
    in_cluster_lookups: Annotated[
        bool,
        typer.Option(
            "--read-annotations/--no-read-annotations",
            help="On scale requests, read the workload's temporary-replicas annotation from the apiserver.",
        ),
    ] = True,
    cluster: ClusterName = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Serve the admission webhook over HTTPS (/mutate, /healthz, /readyz, /metrics) until stopped.

    Rejections and registrations are notified (webhook_rejection, unmanaged_workload channels).

    At most one notification per workload per webhook.notify_every_seconds (300).
    """
    overrides: dict[str, Any] = {
        k: v
        for k, v in {"cert_file": cert_file, "key_file": key_file, "host": host, "port": port}.items()
        if v
    }
    base = load_settings(config, database_url=database_url)
    settings = base.model_copy(update={"webhook": base.webhook.model_copy(update=overrides)})
    name = wiring.webhook_cluster(settings, cluster)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    async def go() -> None:
        adapter = _connect(settings, name, kubeconfig, context) if in_cluster_lookups else None

        async def annotations(ref: WorkloadRef) -> dict[str, str]:
            assert adapter is not None
            return await adapter.workload_annotations(ref)

        try:
            async with wiring.store(settings) as store:
                server, _ = wiring.webhook_server(
                    settings,
                    store,
                    name,
                    annotations=annotations if adapter is not None else None,
                    notifier=await _notifier(settings, store),
                )
                err.print(
                    f"kubecap webhook for cluster {name!r} on https://{settings.webhook.host}:{server.port}/mutate",
                    highlight=False,
                )
                await server.serve()
        finally:
            if adapter is not None:
                await adapter.close()

    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        runner = asyncio.Runner()
    with runner:
        runner.run(go())


def install_command(
    namespace: NamespaceFlag = None,
    service: ServiceFlag = None,
    url: UrlFlag = None,
    failure_policy: FailureFlag = None,
    cert_manager: CertManagerFlag = None,
    timeout: TimeoutFlag = None,
    host: HostFlag = None,
    cluster: ClusterName = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    config: ConfigOption = None,
) -> None:
    """Create (or renew) the CA and serving certificate in Secrets and apply the MutatingWebhookConfiguration.

    Idempotent: run it on a schedule and it renews the serving certificate before it expires
    (webhook.renew_before_days), keeping the CA so the caBundle stays valid.
    """
    settings = load_settings(config)
    options = _options(settings, namespace, service, url, failure_policy, cert_manager, timeout, host)

    async def go() -> Any:
        async with _connected(settings, cluster, kubeconfig, context) as adapter:
            return await install(adapter, options, datetime.now(UTC))

    report = asyncio.run(go())
    for action in report.actions:
        typer.echo(action)
    if report.serving_expires is not None:
        typer.echo(f"serving certificate valid until {report.serving_expires.isoformat()}")


def uninstall_command(
    keep_secrets: Annotated[bool, typer.Option(help="Keep the certificate Secrets.")] = False,
    namespace: NamespaceFlag = None,
    cluster: ClusterName = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    config: ConfigOption = None,
) -> None:
    """Delete the MutatingWebhookConfiguration (the apiserver stops calling the webhook) and its Secrets."""
    settings = load_settings(config)
    options = wiring.install_options(settings, namespace=namespace)

    async def go() -> list[str]:
        async with _connected(settings, cluster, kubeconfig, context) as adapter:
            return await uninstall(adapter, options, keep_secrets=keep_secrets)

    for action in asyncio.run(go()):
        typer.echo(action)


def status_command(
    namespace: NamespaceFlag = None,
    cluster: ClusterName = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    config: ConfigOption = None,
) -> None:
    """Is the webhook installed, with a trusted, unexpired certificate? Exit 2 when something is wrong."""
    settings = load_settings(config)
    options = wiring.install_options(settings, namespace=namespace)

    async def go() -> Any:
        async with _connected(settings, cluster, kubeconfig, context) as adapter:
            return await status(adapter, options, datetime.now(UTC))

    found = asyncio.run(go())
    typer.echo(f"installed: {'yes' if found.installed else 'no'}")
    for key, value in found.facts.items():
        typer.echo(f"{key}: {value}")
    for problem in found.problems:
        err.print(f"problem: {problem}", highlight=False)
    if found.problems:
        raise typer.Exit(2)


def manifests_command(
    namespace: NamespaceFlag = None,
    service: ServiceFlag = None,
    url: UrlFlag = None,
    failure_policy: FailureFlag = None,
    cert_manager: CertManagerFlag = None,
    timeout: TimeoutFlag = None,
    host: HostFlag = None,
    config: ConfigOption = None,
) -> None:
    """Print the webhook's manifests as YAML without touching a cluster.

    Self-signed (default): the CA and serving-certificate Secrets (they hold private keys:
    keep the output secret) and the configuration with its caBundle. --cert-manager: the
    Issuers and Certificates, and the configuration with cert-manager's inject-ca-from.
    """
    settings = load_settings(config)
    options = _options(settings, namespace, service, url, failure_policy, cert_manager, timeout, host)
    if options.cert_manager:
        documents = [*cert_manager_manifests(options), webhook_configuration(options, None)]
    else:
        now = datetime.now(UTC)
        ca = make_ca(f"kubecap webhook CA ({options.namespace})", now, options.ca_days)
        serving = make_serving(ca, options.serving_hosts(), now, options.cert_days)
        documents = [*secret_manifests(options, ca, serving), webhook_configuration(options, ca.cert_pem)]
        err.print("note: the Secrets below hold private keys; store the output as a secret", highlight=False)
    sys.stdout.write(yaml.safe_dump_all(documents, sort_keys=False))
