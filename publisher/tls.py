"""The TLS context of every client publisher opens (SMTP relay, webhook receivers, the IMAP
mailbox of returned mail): certificates and host names verified against the system's CAs,
or those `SSL_CERT_FILE` / `SSL_CERT_DIR` name, and TLS 1.2 at least.

One context per CA setting for the whole process: making one reads the whole CA bundle,
about 40 ms of CPU, as much as a round of webhook posts or a send's first connections.
"""

from __future__ import annotations

import os
import ssl
from functools import cache

_DEFAULTS = ssl.get_default_verify_paths()


def client_context() -> ssl.SSLContext:
    """The shared client context for the CA setting in the environment now."""
    return _client_context(os.environ.get(_DEFAULTS.openssl_cafile_env),
                           os.environ.get(_DEFAULTS.openssl_capath_env))


@cache
def _client_context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    """Made by the standard library's defaults, which read the two variables themselves;
    they are this cache's key, so a changed setting gets a context of its own."""
    del cafile, capath
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
