"""Reading request bodies: the one size limit on every body, and forms as plain strings.

Rule: a body is limited by the bytes actually read, not by what `Content-Length` says, so a
chunked body is cut off at MAX_FORM_BYTES like any other: the read raises PayloadTooLarge
(publisher.web.errors answers its 413 page) before anything is parsed further. A declared
length over the limit is refused at the first read. Form-parser refusals (too many fields,
a file, a bad multipart boundary) are Starlette's HTTPException(400), which
publisher.web.errors maps.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from publisher.web.errors import PayloadTooLarge

MAX_FORM_BYTES = 4096


def declared_too_large(headers: list[tuple[bytes, bytes]]) -> bool:
    """The request's Content-Length says its body is larger than the limit."""
    for name, value in headers:
        if name.lower() == b"content-length":
            return value.strip().isdigit() and int(value) > MAX_FORM_BYTES
    return False


class BodyLimit:
    """Counts the bytes of each request body as the app reads them; beyond MAX_FORM_BYTES,
    the read raises PayloadTooLarge (publisher.web.errors renders the page)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = declared_too_large(scope.get("headers", []))
        read = 0

        async def counted() -> Message:
            nonlocal read
            if too_large:
                raise PayloadTooLarge(limit=str(MAX_FORM_BYTES))
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > MAX_FORM_BYTES:
                    raise PayloadTooLarge(limit=str(MAX_FORM_BYTES))
            return message

        await self.app(scope, counted, send)


async def form_fields(request: Request, max_fields: int) -> dict[str, str]:
    """The form's text fields (the last of a repeated one); a file is refused (400)."""
    form = await request.form(max_files=0, max_fields=max_fields)
    return {key: value for key, value in form.items() if isinstance(value, str)}


async def repeated_field(request: Request, name: str, max_fields: int) -> list[str]:
    """Every value of a field that repeats (checkboxes); the form is parsed once."""
    form = await request.form(max_files=0, max_fields=max_fields)
    return [value for value in form.getlist(name) if isinstance(value, str)]
