"""The shell page names this release's files by versioned URLs that browsers
cache for good, and preloads every module the app imports, so a visit
fetches them in one round (or not at all) instead of an import level at a
time."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.conftest import Server

STATIC = Path(__file__).resolve().parent.parent.parent / "selfdrive" / "web" / "static"
PRELOAD = re.compile(r'<link rel="modulepreload" href="([^"]+)">')
IMPORT = re.compile(r"""^import .* from ['"]([^'"]+)['"]""", re.M)
VERSIONED = re.compile(r"^/(static|vendor)/v-[0-9a-f]{16}/")


def test_the_shell_preloads_every_module_it_imports(server: Server) -> None:
    r = httpx.get(server.base_url + "/files/Some%20folder")
    assert r.status_code == 200
    preloaded = PRELOAD.findall(r.text)
    assert len(preloaded) == len(set(preloaded))
    assert all(VERSIONED.match(u) for u in preloaded), preloaded
    importmap = re.search(r'<script type="importmap">(.*?)</script>', r.text)
    assert importmap is not None
    # every static import of every module, bare (the import map) or relative
    wanted = set()
    for module in STATIC.glob("*.js"):
        wanted.add(f"/static/{module.name}")
        for spec in IMPORT.findall(module.read_text(encoding="utf-8")):
            if spec.startswith("./"):
                wanted.add("/static/" + spec[2:])
            else:
                url = re.search(rf'"{re.escape(spec)}":"([^"]+)"', importmap.group(1))
                assert url is not None, f"{module.name} imports {spec}, not in the import map"
                wanted.add(url.group(1))
    assert {VERSIONED.sub(r"/\1/", u) for u in wanted} == {
        VERSIONED.sub(r"/\1/", u) for u in preloaded}
    with httpx.Client(base_url=server.base_url) as c:
        for url in preloaded:
            got = c.get(url)
            assert got.status_code == 200, url
            assert got.headers["content-type"].startswith("text/javascript"), url
            assert "immutable" in got.headers["cache-control"], url
            # the same file by its plain URL (pdf.js, the icon) is revalidated
            plain = c.get(VERSIONED.sub(r"/\1/", url))
            assert plain.status_code == 200 and plain.content == got.content
            assert plain.headers["cache-control"] == "no-cache"
        assert c.get("/static/v-0000000000000000/app.js").status_code == 404
