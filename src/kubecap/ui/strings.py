"""Every string the UI shows, by language: English first, ready for Chinese (add a "zh" table)."""

from __future__ import annotations

EN: dict[str, str] = {
    "app": "kubecap",
    "login": "Log in",
    "logout": "Log out",
    "username": "User name",
    "password": "Password",
    "overview": "Overview",
    "workloads": "Workloads",
    "operations": "Operations",
    "audit": "Audit",
    "control": "Control",
    "nodes": "Nodes",
    "settings": "Settings",
    "cluster": "Cluster",
    "all_clusters": "All clusters",
    "cpu": "CPU (cores)",
    "memory": "Memory (GiB)",
    "requested": "Requested",
    "used": "Used at peak",
    "allocatable": "Allocatable",
    "cost_month": "Cost per month",
    "waste_month": "Waste per month",
    "savings_month": "Savings per month (recommended)",
    "top_ns_waste": "Top namespaces by waste",
    "top_wl_waste": "Top workloads by waste",
    "top_wl_usage": "Top workloads by usage",
    "trend": "30-day trend (whole day, P95 × replicas)",
    "search": "Search",
    "no_data": "No usage collected yet: run `kubecap collect`.",
    "peak_usage": "Peak-window usage (P95) against requests and limits",
    "day_usage": "Whole-day usage (P95) against requests and limits",
    "recommendations": "Recommendations",
    "approve": "Approve into the control table",
    "approved": "Approved",
    "nothing_changed": "Nothing to change",
    "schedule_task": "Schedule a task",
    "operation": "Operation",
    "workload_id": "Workload (cluster/namespace/Kind/name)",
    "replicas": "Replicas",
    "at": "At (YYYY-MM-DD HH:MM, optional)",
    "cron": "Cron (optional)",
    "timezone": "Time zone",
    "submit": "Submit",
    "task_added": "Task added",
    "cancel": "Cancel",
    "tasks": "Tasks",
    "filter_actor": "Actor",
    "filter_action": "Action",
    "filter_target": "Target contains",
    "refresh": "Refresh",
    "export_csv": "Export CSV",
    "specs": "Control specs",
    "policies": "Namespace policies",
    "save_policy": "Save policy",
    "nodes_note": "Daily node figures; live load and taints come with the scheduling services.",
    "secrets_hidden": "Secrets are never shown after they are saved.",
    "users": "Users",
    "add_user": "Add user",
    "role": "Role",
    "new_password": "Password for {user} (shown once): {password}",
    "forbidden": "Your role ({role}) cannot do this: ask an admin.",
    "not_found": "Not found",
}

TABLES = {"en": EN}
LANGUAGE = "en"


def t(key: str, **values: object) -> str:
    """The string ``key`` in the UI's language (English when a translation is missing)."""
    text = TABLES.get(LANGUAGE, EN).get(key) or EN[key]
    return text.format(**values) if values else text
