"""Cost of workloads, namespaces, clusters and idle nodes from the stored history (pure; see docs/cost.md)."""

from kubecap.cost.idle import NodeIdleCost, idle_costs
from kubecap.cost.outlook import FORECAST, RECENT_MEAN, Outlook, next_month
from kubecap.cost.prices import Price, Prices
from kubecap.cost.workloads import ContainerDayCost, CostLine, Level, container_costs, daily_totals, roll_up

__all__ = [
    "FORECAST",
    "RECENT_MEAN",
    "ContainerDayCost",
    "CostLine",
    "Level",
    "NodeIdleCost",
    "Outlook",
    "Price",
    "Prices",
    "container_costs",
    "daily_totals",
    "idle_costs",
    "next_month",
    "roll_up",
]
