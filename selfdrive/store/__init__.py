"""Storage: metadata (SQLite), block stores, and the block codec.

Everything that touches SQL or block files lives below this package; code
above it talks to `selfdrive.store.meta.MetaStore` and the `BlockStore`
Protocol and does not know which backend is behind them.
"""
