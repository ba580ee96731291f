"""The webhook's TLS: a server context loaded from certificate and key files, reloaded when they rotate.

Kubernetes updates a mounted Secret in place (cert-manager or ``kubecap webhook install``
renewing it); new handshakes must then use the new certificate without a restart.
``load_cert_chain`` on the live context does exactly that: connections already open keep
their session, new ones get the new chain. A half-written pair fails to load and the old
one stays in use until the next check.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path

from kubecap.errors import ConfigError

log = logging.getLogger("kubecap.webhook")


def _stamp(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


class ReloadingContext:
    def __init__(self, cert_file: Path, key_file: Path) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.reloads = 0
        try:
            self._stamps = self._read_stamps()
            self.context.load_cert_chain(str(cert_file), str(key_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot load the webhook certificate {cert_file} and key {key_file} ({exc}): "
                "check webhook.cert_file and webhook.key_file (or run `kubecap webhook install`)"
            ) from exc

    def _read_stamps(self) -> tuple[tuple[int, int, int], ...]:
        # Kubernetes swaps a ..data symlink: resolve, so the stamp follows the new files.
        return (_stamp(self.cert_file.resolve()), _stamp(self.key_file.resolve()))

    def check(self) -> bool:
        """Reload when either file changed; True when a new certificate is in use."""
        try:
            stamps = self._read_stamps()
            if stamps == self._stamps:
                return False
            self.context.load_cert_chain(str(self.cert_file), str(self.key_file))
        except (OSError, ssl.SSLError) as exc:
            log.warning("webhook certificate not reloaded, the previous one stays in use: %s", exc)
            return False
        self._stamps = stamps
        self.reloads += 1
        log.info("webhook certificate reloaded from %s", self.cert_file)
        return True

    async def run(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            # In the loop thread: the context is shared with handshakes, and the files are tiny.
            self.check()
