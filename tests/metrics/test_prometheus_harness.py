"""The real-Prometheus harness: backfill errors are readable and no server outlives its context."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from kubecap.errors import KubecapError, PrometheusQueryError
from kubecap.metrics.prometheus import PrometheusClient, PrometheusOptions
from kubecap.testing.prometheus import PrometheusServer, backfill, require_binaries

pytestmark = pytest.mark.prometheus


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_binaries_are_found() -> None:
    prometheus, promtool = require_binaries()
    assert prometheus.name == "prometheus"
    assert promtool.name == "promtool"
    assert os.access(prometheus, os.X_OK)
    assert os.access(promtool, os.X_OK)


def test_backfill_failure_shows_promtool_stderr(tmp_path: Path) -> None:
    broken = tmp_path / "broken.om"
    broken.write_text("kubecap_test_cpu{pod=web-1} 1 1704067200\n# EOF\n")
    with pytest.raises(KubecapError) as caught:
        backfill([broken], tmp_path / "data")
    message = str(caught.value)
    assert message.startswith(f"promtool could not backfill {broken} (exit ")
    # promtool names the parse problem; the harness must pass that on, not just an exit code.
    assert "expected label value" in message


def test_server_stops_its_process_on_exit(tmp_path: Path) -> None:
    with PrometheusServer(tmp_path / "data") as server:
        pid = server.pid
        assert pid is not None
        assert _running(pid)
        assert server.url.startswith("http://127.0.0.1:")
    assert not _running(pid)
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url


async def test_server_works_as_an_async_context_manager(tmp_path: Path) -> None:
    async with PrometheusServer(tmp_path / "data") as server:
        pid = server.pid
        assert pid is not None
        client = PrometheusClient(PrometheusOptions(url=server.url))
        try:
            assert await client.instant("1 + 1", dt.datetime.now(dt.UTC)) != []
        finally:
            await client.aclose()
    assert not _running(pid)


def test_server_that_dies_at_start_shows_its_log(tmp_path: Path) -> None:
    server = PrometheusServer(tmp_path / "data", extra_args=["--no-such-flag"])
    with pytest.raises(KubecapError, match=r"Prometheus exited while starting: .*no-such-flag"):
        server.start()
    assert server.pid is None


async def test_extra_args_reach_prometheus(tmp_path: Path, history_start: dt.datetime) -> None:
    source = tmp_path / "small.om"
    t0 = int(history_start.timestamp())
    samples = "\n".join(f"kubecap_test_small {i} {t0 + 60 * i}" for i in range(30))
    source.write_text(f"# TYPE kubecap_test_small gauge\n{samples}\n# EOF\n")
    backfill([source], tmp_path / "data", parallel=1)
    at = history_start + dt.timedelta(minutes=29)
    async with (
        PrometheusServer(tmp_path / "data", extra_args=["--query.max-samples=5"]) as server,
        PrometheusClient(PrometheusOptions(url=server.url, retries=0)) as client,
    ):
        assert (await client.instant("kubecap_test_small", at))[0].value == 29.0
        with pytest.raises(PrometheusQueryError, match="too many samples") as caught:
            await client.instant("max_over_time(kubecap_test_small[20m])", at)
    assert caught.value.status == 422


async def test_backfill_runs_one_promtool_per_block_file_in_parallel(
    tmp_path: Path, history_start: dt.datetime
) -> None:
    t0 = int(history_start.timestamp())
    files = []
    for block in range(3):
        path = tmp_path / f"block-{block}.om"
        start = t0 + 7200 * block
        lines = "\n".join(f"kubecap_test_blocks {block} {start + 600 * i}" for i in range(12))
        path.write_text(f"# TYPE kubecap_test_blocks gauge\n{lines}\n# EOF\n")
        files.append(path)
    backfill(files, tmp_path / "data", parallel=2)
    assert len([p for p in (tmp_path / "data").iterdir() if p.is_dir()]) == 3
    end = history_start + dt.timedelta(hours=6)
    async with (
        PrometheusServer(tmp_path / "data") as server,
        PrometheusClient(PrometheusOptions(url=server.url, retries=0)) as client,
    ):
        (series,) = await client.range("kubecap_test_blocks", history_start, end, step_s=3600)
    assert series.values.tolist() == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0]


def test_a_relative_data_dir_is_the_callers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Prometheus runs in its own working directory; a relative path must still mean the caller's."""
    monkeypatch.chdir(tmp_path)
    with PrometheusServer(Path("relative-data")) as server:
        assert server.data_dir == tmp_path / "relative-data"
    assert (tmp_path / "relative-data").is_dir()
