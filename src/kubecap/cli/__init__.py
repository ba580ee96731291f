"""The kubecap command line (``kubecap.cli:main``).

``app.py`` holds the Typer application, the shared options and the error mapping; each
capability's commands live in a module of their own here and are registered in app.py.
"""

from kubecap.cli.app import app, main

__all__ = ["app", "main"]
