"""The Typer application: command registration and the one place errors become exit codes.

Exit codes: 0 success; 2 a problem with the input or the environment (one sentence on
stderr); 3 a named object does not exist; 1 an unexpected error (a bug: please report it).
"""

from __future__ import annotations

import os
import sys
import traceback

import typer

from kubecap.cli import admin, control, cost, demo, ops, predict, recommend, scheduling, serve, usage, webhook
from kubecap.cli.common import err
from kubecap.errors import KubecapError

app = typer.Typer(
    help="kubecap: Kubernetes capacity control from real usage.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Inspect the settings.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the database.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
tasks_app = typer.Typer(
    help="Scheduled operations: list, add, cancel, pause, resume, history, run.", no_args_is_help=True
)
notify_app = typer.Typer(help="Notification channels.", no_args_is_help=True)
app.add_typer(tasks_app, name="tasks")
app.add_typer(notify_app, name="notify")

app.command("collect")(usage.collect_command)
app.command("report")(usage.report_command)
app.command("demo")(demo.demo_command)
app.command("serve")(serve.serve_command)
app.command("recommend")(recommend.recommend_command())
app.command("cost")(cost.cost_command)
app.command("idle-nodes")(recommend.idle_nodes_command())
app.command("version")(admin.version_command)
config_app.command("check")(admin.config_check_command)
db_app.command("upgrade")(admin.db_upgrade_command)
app.command("scale")(ops.scale_command)
app.command("restart")(ops.restart_command)
app.command("audit")(ops.audit_command)
tasks_app.command("list")(ops.tasks_list_command)
tasks_app.command("add")(ops.tasks_add_command)
tasks_app.command("cancel")(ops.tasks_cancel_command)
tasks_app.command("pause")(ops.tasks_pause_command)
tasks_app.command("resume")(ops.tasks_resume_command)
tasks_app.command("history")(ops.tasks_history_command)
tasks_app.command("run")(ops.tasks_run_command)
notify_app.command("test")(ops.notify_test_command)
control_app = typer.Typer(
    help="The control table: init, approve, set, unset, show, history, policy.", no_args_is_help=True
)
webhook_app = typer.Typer(
    help="The admission webhook: serve, install, uninstall, status, manifests.", no_args_is_help=True
)
app.add_typer(control_app, name="control")
app.add_typer(webhook_app, name="webhook")
control_app.command("init")(control.init_command)
control_app.command("approve")(control.approve_command)
control_app.command("set")(control.set_command)
control_app.command("unset")(control.unset_command)
control_app.command("show")(control.show_command)
control_app.command("history")(control.history_command)
control_app.command("policy")(control.policy_command)
webhook_app.command("serve")(webhook.serve_command)
webhook_app.command("install")(webhook.install_command)
webhook_app.command("uninstall")(webhook.uninstall_command)
webhook_app.command("status")(webhook.status_command)
webhook_app.command("manifests")(webhook.manifests_command)
nodes_app = typer.Typer(help="Node load and the auto-taint controller: load, taints.", no_args_is_help=True)
app.add_typer(nodes_app, name="nodes")
app.command("extender")(scheduling.extender_command)
nodes_app.command("load")(scheduling.node_load_command)
nodes_app.command("taints")(scheduling.taints_command)
predict_app = typer.Typer(
    help="Predictive replicas: set, unset, show policies; run one round.", no_args_is_help=True
)
app.add_typer(predict_app, name="predict")
predict_app.command("set")(predict.set_command)
predict_app.command("unset")(predict.unset_command)
predict_app.command("show")(predict.show_command)
predict_app.command("run")(predict.run_command)


def main() -> None:
    """Entry point: user errors become one sentence and an exit code, never a traceback."""
    try:
        app()
    except KubecapError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted: what was already written is kept; run the command again to resume")
        sys.exit(130)
    except Exception as exc:
        # A bug, not a user error: say so in one line; the traceback on request.
        if os.environ.get("KUBECAP_DEBUG"):
            traceback.print_exc()
        err.print(
            f"[red]unexpected error:[/red] {type(exc).__name__}: {exc} (a bug in kubecap: please report it;"
            " set KUBECAP_DEBUG=1 for the traceback)",
            highlight=False,
        )
        sys.exit(1)
