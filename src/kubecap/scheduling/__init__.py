"""Load-aware scheduling: node load from node-exporter, the scheduler extender, the auto-taint controller.

Pure logic (``policy``, ``taint_policy``, ``nodes``, ``pods``, ``load``) takes and returns
typed values; ``nodeload``, ``extender``, ``taints`` and ``server`` are the thin I/O around
it. Nothing is imported here, so the simulator can use the pure modules without the servers.
"""
