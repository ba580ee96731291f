"""The web UI: NiceGUI pages mounted on the API's FastAPI app, calling the same services."""
