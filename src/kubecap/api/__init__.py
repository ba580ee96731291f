"""The REST API: FastAPI routers over the same services the CLI and the UI use.

``create_app`` (kubecap.api.app) builds the application; authentication and roles live in
kubecap.api.auth, error documents in kubecap.api.problems.
"""
