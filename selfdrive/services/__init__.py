"""The service layer: the domain rules between the HTTP faces and the store.

HTTP handlers, WebDAV, the CLI and (later) the web UI's API calls all go
through these services, so a rule is enforced once for every face.
"""
