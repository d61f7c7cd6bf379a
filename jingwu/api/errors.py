"""One shape for every refusal: ``{"detail": [{"field": ..., "message": ...}]}`` with a 4xx status."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jingwu.domain.errors import DomainError


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _item(error: dict[str, Any]) -> dict[str, str]:
    """One refusal item. A body that is not JSON at all is the body's fault (pydantic puts the
    character position where the field would be)."""
    if error.get("type") == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "invalid")
        return {"field": "body", "message": f"not valid JSON: {reason}"}
    return {"field": _field(error.get("loc", ())), "message": error.get("msg", "invalid")}


ERROR_ITEM_SCHEMA: dict[str, Any] = {
    "title": "ValidationError", "type": "object", "required": ["field", "message"],
    "properties": {"field": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Field"},
                   "message": {"type": "string", "title": "Message"}},
}
ERROR_SCHEMA: dict[str, Any] = {
    "title": "HTTPValidationError", "type": "object", "required": ["detail"],
    "properties": {"detail": {"type": "array", "title": "Detail",
                              "items": {"$ref": "#/components/schemas/ValidationError"}}},
}


def _document_error_shape(app: FastAPI) -> None:
    """The OpenAPI schema describes refusals as they are sent (``field``/``message``), not FastAPI's default."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas["ValidationError"] = ERROR_ITEM_SCHEMA
            schemas["HTTPValidationError"] = ERROR_SCHEMA
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    _document_error_shape(app)

    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse({"detail": [{"field": exc.field, "message": exc.message}]}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        items = [_item(e) for e in exc.errors()]
        return JSONResponse({"detail": items}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, list) else [{"field": None, "message": str(exc.detail)}]
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


class BodySizeLimit:
    """Refuses request bodies over ``limit`` bytes with 413 before the route reads them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = b'{"detail":[{"field":"body","message":"request body too large"}]}'
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
