from pathlib import Path

import pytest

from kubecap.config import load_settings
from kubecap.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kubecap.yaml"
    path.write_text(text)
    return path


def test_yaml_file_with_two_clusters(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
database_url: sqlite:///x.db
clusters:
  - name: prod-eu
    prometheus: {url: "https://mimir.example/prometheus/", headers: {X-Scope-OrgID: team-a}}
    cluster_label: {cluster: prod-eu}
    timezone: Europe/Berlin
    peak_windows: ["9:00-10:30", "22:00-02:00"]
  - name: demo
    simulated: demo
""",
    )
    settings = load_settings(path)
    prod, demo = settings.clusters
    assert prod.prometheus is not None
    assert prod.prometheus.url == "https://mimir.example/prometheus"
    assert prod.peak_windows == ["09:00-10:30", "22:00-02:00"]
    assert demo.simulated == "demo"
    assert settings.cluster("demo") == [demo]


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "database_url: sqlite:///from-file.db\n")
    monkeypatch.setenv("KUBECAP_DATABASE_URL", "sqlite:///from-env.db")
    assert load_settings(path).database_url == "sqlite:///from-env.db"
    assert load_settings(path, database_url="sqlite:///flag.db").database_url == "sqlite:///flag.db"


def test_prometheus_url_shortcut_makes_a_default_cluster() -> None:
    settings = load_settings(prometheus_url="http://127.0.0.1:9090")
    assert [c.name for c in settings.clusters] == ["default"]


def test_every_problem_is_reported_as_a_sentence(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
clusters:
  - name: a
    prometheus: {url: "ftp://x"}
    timezone: Mars/Olympus
    peak_windows: ["25:00-26:00"]
    cluster_labl: {cluster: a}
  - name: b
""",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert "clusters.0.prometheus.url: Prometheus URL 'ftp://x' must start with http://" in message
    assert "clusters.0.timezone: unknown time zone 'Mars/Olympus'" in message
    assert "clusters.0.peak_windows: invalid peak window '25:00-26:00'" in message
    assert "clusters.0.cluster_labl: unknown setting" in message
    assert "needs exactly one of 'prometheus'" in message


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML at line 3"):
        load_settings(write(tmp_path, "clusters:\n  - name: [\n"))
    with pytest.raises(ConfigError, match="mapping of settings"):
        load_settings(write(tmp_path, "- a\n- b\n"))


def test_duplicate_cluster_names(tmp_path: Path) -> None:
    path = write(tmp_path, "clusters:\n  - {name: a, simulated: demo}\n  - {name: a, simulated: demo}\n")
    with pytest.raises(ConfigError, match="repeated: a"):
        load_settings(path)


def test_unknown_cluster_name() -> None:
    settings = load_settings(prometheus_url="http://127.0.0.1:9090")
    with pytest.raises(ConfigError, match="unknown cluster 'x' \\(known: default\\)"):
        settings.cluster("x")


def test_evaluation_steps_must_align_with_windows() -> None:
    cluster = {"name": "a", "simulated": "demo"}
    with pytest.raises(ConfigError, match="step_seconds 45 must divide 60"):
        load_settings(clusters=[{**cluster, "step_seconds": 45}])
    with pytest.raises(ConfigError, match="day_step_seconds 700 must divide 900"):
        load_settings(clusters=[{**cluster, "day_step_seconds": 700}])
    assert (
        load_settings(clusters=[{**cluster, "step_seconds": 30, "day_step_seconds": 900}])
        .clusters[0]
        .step_seconds
        == 30
    )
