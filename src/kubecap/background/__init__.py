"""The background loops of `kubecap serve`: collection, recommendations, tasks, taints, node load.

``loop`` runs a loop (a timed, linear list of named steps), ``leader`` elects the one replica
that may act on clusters, ``steps`` holds what each loop does, ``plan`` lists the loops, and
``service`` starts and stops them with the server.
"""
