"""`kubecap predict` bad input through the real command line: one sentence, the documented exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.recommend.test_cli import kubecap


@pytest.fixture
def db(tmp_path: Path) -> list[str]:
    return ["--database-url", f"sqlite:///{tmp_path / 'kubecap.db'}"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "0"], "target per replica 0.0 must be a positive number"),
        (["--target", "1", "--min", "5", "--max", "2"], "must satisfy 0 <= min <= max"),
        (["--target", "1", "--lead", "soon"], "--lead 'soon' is not a duration"),
        (["--target", "1", "--cron", "0 9 * * *..0 18 * * *=3@Mars/Base"], "Mars/Base"),
        (["--target", "1", "--signal", "promql"], "signal promql needs an expression"),
    ],
)
def test_a_bad_policy_is_one_sentence_and_exit_2(db: list[str], args: list[str], message: str) -> None:
    done = kubecap("predict", "set", "web", "-n", "shop", *args, *db)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in " ".join(done.stderr.split()) and "Traceback" not in done.stderr


def test_set_show_unset_and_the_audit_trail(db: list[str]) -> None:
    cron = "0 9 * * 1-5..0 18 * * 1-5=4@Europe/Paris"
    done = kubecap("predict", "set", "web", "-n", "shop", "--target", "0.5", "--lead", "1h30m", "--cron", cron,
                   "--mode", "hpa-min", "--preview", "--actor", "alice", *db)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("opted in: default/shop/Deployment/web  hpa-min")
    (policy,) = json.loads(kubecap("predict", "show", "--json", *db).stdout)
    assert (policy["lead_seconds"], policy["mode"], policy["preview"]) == (5400, "hpa-min", True)
    assert policy["crons"] == [
        {"start": "0 9 * * 1-5", "end": "0 18 * * 1-5", "replicas": 4, "timezone": "Europe/Paris"}
    ]
    assert kubecap("predict", "unset", "web", "-n", "shop", "--actor", "alice", *db).returncode == 0
    missing = kubecap("predict", "unset", "web", "-n", "shop", *db)
    assert missing.returncode == 3 and "has no predictive-replicas policy" in missing.stderr
    audit = kubecap("audit", "--actor", "alice", "-f", "json", *db)
    assert audit.returncode == 0, audit.stderr
    assert [e["action"] for e in json.loads(audit.stdout)] == ["predict.set", "predict.unset"]


def test_run_needs_once(db: list[str]) -> None:
    done = kubecap("predict", "run", *db)
    assert done.returncode == 2 and "pass --once" in done.stderr
