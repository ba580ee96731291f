import pytest

from kubecap.domain.labels import LabelSelector, SelectorError, sanitise

LABELS = {"app": "web", "app_kubernetes_io_name": "shop", "env": "prod"}


def test_sanitise_like_kube_state_metrics() -> None:
    assert sanitise("app.kubernetes.io/name") == "app_kubernetes_io_name"


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app=api", False),
        ("app!=api", True),
        ("missing!=x", True),
        ("app.kubernetes.io/name=shop", True),
        ("env in (prod, staging)", True),
        ("env notin (prod)", False),
        ("missing notin (prod)", True),
        ("env", True),
        ("!env", False),
        ("!canary", True),
        ("app=web,env in (staging,prod),!canary", True),
        ("app=web, env=dev", False),
    ],
)
def test_matches(selector: str, matches: bool) -> None:
    assert LabelSelector.parse(selector).matches(LABELS) is matches


@pytest.mark.parametrize("selector", ["app=(web", "env in ()", "a b", "=web", "app=we b"])
def test_bad_selectors_name_themselves_and_show_the_form(selector: str) -> None:
    with pytest.raises(SelectorError, match=r"write it as kubectl does|needs at least one value"):
        LabelSelector.parse(selector)
