import pytest

from kubecap.domain.quantity import QuantityError, format_bytes, format_cpu, parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("100m", 0.1),
        ("1", 1.0),
        ("1.5", 1.5),
        ("1000m", 1.0),
        ("512Mi", 512 * 2**20),
        ("1Gi", 2**30),
        ("1G", 1e9),
        ("2k", 2000.0),
        ("1e3", 1000.0),
        ("250u", 250e-6),
        (".5", 0.5),
        (3, 3.0),
    ],
)
def test_parse(text: str | int, value: float) -> None:
    assert parse_quantity(text) == pytest.approx(value)


def test_equal_by_value() -> None:
    assert parse_quantity("1Gi") == parse_quantity("1024Mi")
    assert parse_quantity("1000m") == parse_quantity("1")


@pytest.mark.parametrize("text", ["", "abc", "1.2.3", "10 Mi", "1mi", "Mi"])
def test_rejects_with_examples(text: str) -> None:
    with pytest.raises(QuantityError, match="Kubernetes quantity"):
        parse_quantity(text)


def test_format() -> None:
    assert format_cpu(0.3404) == "340m"
    assert format_cpu(2.0) == "2"
    assert format_bytes(512 * 2**20) == "512Mi"
    assert format_bytes(1.5 * 2**30) == "1.5Gi"
    assert format_bytes(100) == "100"
