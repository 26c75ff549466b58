"""The desktop sync client: keeps a local folder and a server folder in two-way sync.

It talks to the server only over HTTP and shares only `selfdrive.core` with it
(docs/sync.md).
"""
