"""A real Prometheus for tests, benchmarks and the contract test: backfill history, serve it on loopback.

kubecap's PromQL is only trustworthy when a real Prometheus has evaluated it, so the tests
write OpenMetrics history, turn it into TSDB blocks with ``promtool tsdb create-blocks-from
openmetrics`` and start ``prometheus`` over them on 127.0.0.1 on a free port. Both binaries
come from Debian's ``prometheus`` package. A started server is always stopped (terminate,
then kill), also when the test fails or the interpreter exits.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from kubecap.errors import KubecapError

_INSTALL_HINT = (
    "install Debian's prometheus package (apt-get install prometheus); scripts/check does it when run as root"
)
_LOG_TAIL_LINES = 15


def require_binaries() -> tuple[Path, Path]:
    """Paths of ``prometheus`` and ``promtool`` (from PATH, else /usr/bin)."""
    found: list[Path] = []
    for name in ("prometheus", "promtool"):
        on_path = shutil.which(name)
        fallback = Path("/usr/bin") / name
        if on_path:
            found.append(Path(on_path))
        elif fallback.is_file() and os.access(fallback, os.X_OK):
            found.append(fallback)
        else:
            raise KubecapError(f"{name} is not installed: {_INSTALL_HINT}")
    return found[0], found[1]


def _tail(text: str, lines: int = _LOG_TAIL_LINES) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) if kept else "no output"


def backfill(files: Sequence[Path], data_dir: Path, *, parallel: int = 2) -> None:
    """Turn OpenMetrics ``files`` into TSDB blocks inside ``data_dir``, ``parallel`` promtools at a time.

    Each file must end with ``# EOF`` and hold samples in time order per series (timestamps in
    seconds). Give promtool one file per 2-hour-aligned block: promtool 2.42 re-parses the whole
    input once for every 2-hour block it spans, so one file of 1M samples over 7 days took 21 s
    here and the same over 1 day 4.8 s, while files cut at 2-hour boundaries cost one parse each
    and can run side by side.
    """
    if parallel < 1:
        raise ValueError(f"parallel must be at least 1, not {parallel}")
    _, promtool = require_binaries()
    data_dir.mkdir(parents=True, exist_ok=True)

    def run(file: Path) -> None:
        done = subprocess.run(
            [str(promtool), "tsdb", "create-blocks-from", "openmetrics", "-q", str(file), str(data_dir)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise KubecapError(
                f"promtool could not backfill {file} (exit {done.returncode}): "
                f"{_tail(done.stderr or done.stdout)}"
            )

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        # list() re-raises the first failure here, after every started promtool has finished.
        list(pool.map(run, files))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrometheusServer:
    """``prometheus`` serving ``data_dir`` on 127.0.0.1; a context manager, sync or async.

    Retention is 100 years because backfilled history is old and would otherwise be deleted
    at start. Nothing is scraped (the configuration is empty). ``extra_args`` go to the
    command line as they are (e.g. ``--query.max-samples=1000``).
    """

    def __init__(
        self, data_dir: Path, *, extra_args: Sequence[str] = (), ready_timeout_s: float = 60.0
    ) -> None:
        # Absolute: Prometheus runs with its own working directory, where a relative path means another TSDB.
        self.data_dir = Path(data_dir).resolve()
        self.extra_args = tuple(extra_args)
        self.ready_timeout_s = ready_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._port = 0

    @property
    def url(self) -> str:
        if self._process is None:
            raise RuntimeError("the Prometheus server is not running: start it first")
        return f"http://127.0.0.1:{self._port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start Prometheus and return once it answers /-/ready."""
        if self._process is not None:
            raise RuntimeError("this Prometheus server is already running")
        prometheus, _ = require_binaries()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._workdir = Path(tempfile.mkdtemp(prefix="kubecap-prometheus-"))
        config = self._workdir / "prometheus.yml"
        config.write_text("# kubecap test server: nothing is scraped\nscrape_configs: []\n")
        atexit.register(self.stop)
        try:
            # Another process may take the free port between our probe and Prometheus' bind.
            for _ in range(3):
                if self._launch(prometheus, config):
                    return
            raise KubecapError(
                f"Prometheus could not bind a free port on 127.0.0.1: {_tail(self._log_text())}"
            )
        except BaseException:
            self.stop()
            raise

    def _launch(self, prometheus: Path, config: Path) -> bool:
        assert self._workdir is not None
        self._port = _free_port()
        log_path = self._workdir / "prometheus.log"
        with log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [
                    str(prometheus),
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.data_dir}",
                    "--storage.tsdb.retention.time=100y",
                    f"--web.listen-address=127.0.0.1:{self._port}",
                    *self.extra_args,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._workdir,
            )
        deadline = time.monotonic() + self.ready_timeout_s
        with httpx.Client(trust_env=False, timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    log_text = self._log_text()
                    self._process = None
                    if "address already in use" in log_text:
                        return False
                    raise KubecapError(f"Prometheus exited while starting: {_tail(log_text)}")
                try:
                    if http.get(f"http://127.0.0.1:{self._port}/-/ready").status_code == 200:
                        return True
                except httpx.TransportError:
                    pass  # not listening yet
                time.sleep(0.1)
        raise KubecapError(
            f"Prometheus was not ready within {self.ready_timeout_s:g} s: {_tail(self._log_text())}"
        )

    def _log_text(self) -> str:
        if self._workdir is None:
            return ""
        log_path = self._workdir / "prometheus.log"
        return log_path.read_text(errors="replace") if log_path.exists() else ""

    def stop(self) -> None:
        """Stop Prometheus (terminate, wait, kill) and remove its temporary files; idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        atexit.unregister(self.stop)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        # Starting blocks for up to ready_timeout_s: keep it off the event loop.
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)
