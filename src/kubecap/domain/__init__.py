"""Pure types and rules: no I/O, no imports of other kubecap packages."""
