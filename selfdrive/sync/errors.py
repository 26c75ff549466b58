"""The sync client's exceptions.

They are the client's own tree, apart from `selfdrive.core.errors`: those map
to HTTP answers of the server (one status each, pinned by a test), while
these end a client command with a message and an exit code::

    ClientError
    ├── AccountError        login or logout failed (account.py)
    ├── CredentialsError    no login stored, or the file is unreadable
    ├── ApiError            the server answered with an error status
    │   └── (status, server_code and body tell which)
    ├── Unreachable         no answer, for longer than the retries allow
    ├── CursorExpired       the change feed no longer reaches our cursor
    └── SyncError           the engine refuses to go on
        ├── MarkerMissing
        └── DeletesNeedConfirmation
"""

from __future__ import annotations


class ClientError(Exception):
    code = "client_error"
