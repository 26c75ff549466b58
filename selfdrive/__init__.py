"""selfdrive: a self-hosted file sync and share server."""

__version__ = "0.1.0"
