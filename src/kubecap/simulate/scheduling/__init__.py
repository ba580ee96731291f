"""A trace-driven cluster simulator for comparing placement policies (bench/scheduling.py).

Nodes, pods arriving in bursts (a Deployment's replicas) and leaving over days, each pod's
CPU following a real trace of ../shared/traces (``shapes``, ``workload``); a policy places
every pod the way kube-scheduler would with it (``policies``: requests-based least
allocated, or that plus kubecap's extender, which sees node load as the node-load cache
would — lagging, refreshed on its periods); optionally the auto-taint controller runs
every minute on the same load (``engine``). The figures are those of the issue: node-minutes
above 80 % CPU, the highest node utilisation, the spread between nodes, pods not placed,
taint changes and flaps. The decisions are kubecap's own pure functions
(``kubecap.scheduling.policy`` and ``taint_policy``), not re-implementations.
"""
