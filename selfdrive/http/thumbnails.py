"""GET /files/thumbnail: a picture's thumbnail (services/thumbnails.py).

Who may read the file may have its thumbnail (the rules of GET
/files/content, shares included).  The ETag is known before the thumbnail
is made, so a browser's If-None-Match costs no decoding; the answer may be
kept by the browser alone (``private``), longer when the URL names a
revision.  Like every download it is data, never a page: nosniff and the
sandbox CSP (DESIGN.md rule 7).
"""

from __future__ import annotations

from starlette.responses import Response

from selfdrive.http import download
from selfdrive.http.endpoint import Call
from selfdrive.http.schemas import ThumbnailQuery

#: how long a browser may show a thumbnail without asking again, in seconds:
#: a URL without rev shows whatever is current, so it is asked again soon
MAX_AGE_CURRENT_S = 60
MAX_AGE_REVISION_S = 24 * 3600


async def get_thumbnail(call: Call[ThumbnailQuery, None]) -> Response:
    q, service = call.query, call.runtime.thumbnails
    opened = await service.open(call.who, q.path, q.rev)
    etag = service.etag(opened, q.size)
    stem = opened.entry.node.name.rsplit(".", 1)[0] or "thumbnail"
    max_age = MAX_AGE_CURRENT_S if q.rev is None else MAX_AGE_REVISION_S
    headers = {
        "ETag": etag,
        "Cache-Control": f"private, max-age={max_age}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": download.CSP,
        "X-Selfdrive-Rev": str(opened.revision.rev),
    }
    inm = call.request.headers.get("if-none-match")
    if inm is not None and download.etag_matches(inm, etag):
        return Response(status_code=304, headers=headers)
    thumb = await service.thumbnail(opened, q.size)
    suffix = ".webp" if thumb.media_type == "image/webp" else ".jpg"
    headers["Content-Disposition"] = download.disposition("inline", f"{stem}-{q.size}{suffix}")
    return Response(thumb.data, headers=headers, media_type=thumb.media_type)
