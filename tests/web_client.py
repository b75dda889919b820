"""How tests speak HTTP to the app and to receivers on loopback: httpx, with one TLS context
for the whole process.

httpx builds a TLS context for every client it makes, reading the whole CA bundle each time
(about 40 ms of CPU), even for a client that only ever speaks plain HTTP to 127.0.0.1; the
tests make hundreds. These calls are httpx's own with that context made once and shared.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx

TLS = ssl.create_default_context()


def Client(**options: Any) -> httpx.Client:  # noqa: N802 - stands in for httpx.Client
    """`httpx.Client(**options)` with the shared TLS context."""
    return httpx.Client(verify=TLS, **options)


def request(method: str, url: str, **options: Any) -> httpx.Response:
    """`httpx.request(method, url, **options)` with the shared TLS context."""
    return httpx.request(method, url, verify=TLS, **options)


def get(url: str, **options: Any) -> httpx.Response:
    return request("GET", url, **options)


def post(url: str, **options: Any) -> httpx.Response:
    return request("POST", url, **options)
