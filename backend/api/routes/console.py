"""/console: the operators' live console, static files served as they are (no build step).

The page reads its token from the URL fragment (`/console#token=...`, which never reaches a
server) or asks for one, and calls the `/api` endpoints with it; the files themselves hold no
data, so they are served to anyone. A strict Content-Security-Policy allows only this origin.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from backend.core.errors import NotFound

router = APIRouter(tags=["console"], include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parent.parent / "console"
_FILES = {
    "app.js": "text/javascript",
    "sections.js": "text/javascript",
    "style.css": "text/css",
}
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@router.get("/console")
async def console_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=_HEADERS)


@router.get("/console/{file_name}")
async def console_file(file_name: str) -> FileResponse:
    media_type = _FILES.get(file_name)
    if media_type is None:
        raise NotFound(f"no console file {file_name!r}")
    return FileResponse(STATIC_DIR / file_name, media_type=media_type, headers=_HEADERS)
