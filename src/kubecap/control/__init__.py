"""The control table and its enforcement: specs and policies (service.py), the pure admission
decision (admission.py), the webhook server around it (server.py) and its installation
(install.py, certs.py). Nothing is imported here, so importing the decision never loads a server.
"""
