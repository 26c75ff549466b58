"""Core types shared by the server and the sync client.

Nothing in here imports any other part of selfdrive, so the sync client can use
the chunker, the block hash and the path rules without pulling in the server.
"""
