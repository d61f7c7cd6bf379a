"""The web pages: static HTML shells whose scripts talk to the API, so ``pip install`` gives a working
UI with no front-end server and no network. Which data a page shows is decided by the API for the
logged-in user; the pages only choose what to draw.

The officer terminal is a PWA: its manifest and service worker are served from the site root so the
worker's scope covers ``/terminal``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

import jingwu.web

WEB_DIR = Path(jingwu.web.__file__).parent
TEMPLATES = WEB_DIR / "templates"
STATIC = WEB_DIR / "static"
NO_CACHE = {"Cache-Control": "no-cache"}

router = APIRouter(tags=["pages"], include_in_schema=False)


def static_files() -> StaticFiles:
    """``/static``: scripts, styles, message catalogues and the vendored Leaflet."""
    return StaticFiles(directory=STATIC)


def _page(name: str) -> FileResponse:
    return FileResponse(TEMPLATES / f"{name}.html", media_type="text/html; charset=utf-8", headers=NO_CACHE)


@router.get("/")
def login_page() -> FileResponse:
    return _page("login")


@router.get("/map")
def map_page() -> FileResponse:
    return _page("map")


@router.get("/console")
def console_page() -> FileResponse:
    return _page("console")


@router.get("/calltaker")
def calltaker_page() -> FileResponse:
    return _page("calltaker")


@router.get("/terminal")
def terminal_page() -> FileResponse:
    return _page("terminal")


@router.get("/terminal.webmanifest")
def manifest() -> FileResponse:
    return FileResponse(STATIC / "terminal" / "manifest.webmanifest", media_type="application/manifest+json",
                        headers=NO_CACHE)


@router.get("/sw.js")
def service_worker() -> FileResponse:
    return FileResponse(STATIC / "terminal" / "sw.js", media_type="text/javascript",
                        headers={**NO_CACHE, "Service-Worker-Allowed": "/"})
