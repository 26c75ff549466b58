"""How a block travels over HTTP: raw, zstd, or a *delta* (docs/api.md, "Blocks").

A delta is one zstd frame (RFC 8878) compressed with the plaintext of another
block, the *base*, as a raw-content dictionary: libzstd's
``ZSTD_dct_rawContent`` (python-zstandard:
``ZstdCompressionDict(base, dict_type=DICT_TYPE_RAWCONTENT)``), which is the
same as ``ZSTD_CCtx_refPrefix``.  For a small edit of a 4 MiB block it takes a
few hundred bytes.  Decoding is the same as plain zstd with that dictionary.

These functions are pure and CPU-bound: callers run them in a worker thread.
"""

from __future__ import annotations

import zstandard

from selfdrive.core.errors import BadRequest, PayloadTooLarge

#: the largest zstd window a client may use: 16 MiB, which bounds the
#: decoder's memory and covers a 4 MiB base plus a 4 MiB block (window_log 23)
MAX_WINDOW = 1 << 24
#: how the server makes a delta: zstd level 1 (the fast strategy), a window
#: that reaches from the block's end back to the base's start, and a hash
#: table big enough to index a 4 MiB base (with hash_log 18, measured, half
#: of a 4 MiB block found no match; 20 costs about 30 ms per block)
DELTA_PARAMS = zstandard.ZstdCompressionParameters.from_level(1, window_log=23, hash_log=20)
#: zstd level for a block sent without a base
PLAIN_LEVEL = 1


def dictionary(base: bytes) -> zstandard.ZstdCompressionDict:
    return zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)


def pack(plain: bytes, base: bytes | None = None) -> bytes:
    """*plain* as one zstd frame; a delta against *base* if given."""
    if base is None:
        return zstandard.ZstdCompressor(level=PLAIN_LEVEL).compress(plain)
    compressor = zstandard.ZstdCompressor(dict_data=dictionary(base),
                                          compression_params=DELTA_PARAMS)
    return compressor.compress(plain)


def unpack(wire: bytes, base: bytes | None, limit: int) -> bytes:
    """The content of the zstd frame *wire* (a delta against *base* if given).

    PayloadTooLarge once it passes *limit* bytes (a bomb stops there: at most
    limit + 1 bytes are ever made), BadRequest if it is not valid zstd (a
    delta made against another base than *base* usually is not; if it is, its
    content will not hash to its id).
    """
    try:
        declared = zstandard.get_frame_parameters(wire).content_size
    except zstandard.ZstdError as exc:
        raise BadRequest(f"the body is not valid zstd: {exc}") from None
    if declared != zstandard.CONTENTSIZE_UNKNOWN and declared > limit:
        raise PayloadTooLarge(f"a block may be at most {limit} bytes, not {declared}")
    decoder = zstandard.ZstdDecompressor(
        dict_data=None if base is None else dictionary(base), max_window_size=MAX_WINDOW
    )
    out = bytearray()
    try:
        with decoder.stream_reader(wire) as reader:
            while len(out) <= limit:
                piece = reader.read(limit + 1 - len(out))
                if not piece:
                    break
                out += piece
    except zstandard.ZstdError as exc:
        raise BadRequest(f"the body is not valid zstd: {exc}") from None
    if len(out) > limit:
        raise PayloadTooLarge(f"a block may be at most {limit} bytes")
    return bytes(out)
