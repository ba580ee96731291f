"""Container resources as a cluster states them: requests and limits per container name.

Quantities stay in their Kubernetes spelling ("250m", "512Mi") because that is what is
written back to the cluster; ``validate`` checks them with the quantity grammar so that a
typo is refused before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubecap.domain.quantity import QuantityError, parse_quantity

RESOURCE_NAMES = ("cpu", "memory")


class ResourcesError(ValueError):
    """Container resources are invalid; the message names the value and the fix."""


@dataclass(frozen=True, slots=True)
class ContainerResources:
    """Requests and limits of one container; a resource absent from a mapping is unset."""

    container: str
    requests: dict[str, str] = field(default_factory=dict)
    limits: dict[str, str] = field(default_factory=dict)

    def validate(self) -> ContainerResources:
        """Return self, or raise ResourcesError naming the first bad value."""
        if not self.container:
            raise ResourcesError("a container name is required: resources are set per container name")
        for part, values in (("requests", self.requests), ("limits", self.limits)):
            for name, text in values.items():
                if name not in RESOURCE_NAMES:
                    raise ResourcesError(
                        f"container {self.container!r}: unknown resource {name!r} in {part}: use cpu or memory"
                    )
                try:
                    value = parse_quantity(text)
                except QuantityError as exc:
                    raise ResourcesError(f"container {self.container!r}: {part}.{name}: {exc}") from None
                if value <= 0:
                    raise ResourcesError(
                        f"container {self.container!r}: {part}.{name} must be positive, got {text!r}"
                    )
        for name, request in self.requests.items():
            limit = self.limits.get(name)
            if limit is not None and parse_quantity(limit) < parse_quantity(request):
                raise ResourcesError(
                    f"container {self.container!r}: the {name} limit {limit} is below the request {request}: "
                    "raise the limit or lower the request"
                )
        return self

    def to_dict(self) -> dict[str, object]:
        return {"container": self.container, "requests": dict(self.requests), "limits": dict(self.limits)}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ContainerResources:
        requests = data.get("requests") or {}
        limits = data.get("limits") or {}
        if not isinstance(requests, dict) or not isinstance(limits, dict):
            raise ResourcesError("requests and limits must be mappings of resource name to quantity")
        return cls(
            container=str(data.get("container", "")),
            requests={str(k): str(v) for k, v in requests.items()},
            limits={str(k): str(v) for k, v in limits.items()},
        )
