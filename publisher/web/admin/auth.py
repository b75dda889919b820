"""The console's web credentials: session cookies and CSRF tokens.

A session cookie is signed and carries the session id (publisher.accounts keeps only its
hash), so neither a stolen database nor a forged cookie opens a session. CSRF tokens are
HMACs of the session id (the login form's, of a nonce in its own cookie), compared in
constant time. No HTTP here: publisher.web.admin.login turns these into pages.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from itsdangerous import BadData, URLSafeSerializer

COOKIE_SALT = "publisher.admin-session.v1"
CSRF_CONTEXT = b"publisher.admin-csrf.v1:"
LOGIN_CSRF_CONTEXT = b"publisher.admin-login-csrf.v1:"


@dataclass(frozen=True)
class Keys:
    """The console's signing keys, derived from the site's secret keys (newest first)."""

    secret_keys: tuple[str, ...]

    def _cookies(self) -> URLSafeSerializer:
        # itsdangerous signs with the last key and accepts every one (key rotation).
        return URLSafeSerializer(list(reversed(self.secret_keys)), salt=COOKIE_SALT)

    def cookie(self, session_id: str) -> str:
        return str(self._cookies().dumps(session_id))

    def session_id(self, cookie: str) -> str | None:
        """The session id a cookie carries, or None when it was not signed by us."""
        if not cookie or len(cookie) > 256:
            return None
        try:
            value = self._cookies().loads(cookie)
        except (BadData, ValueError, UnicodeError):
            return None
        return value if isinstance(value, str) else None

    def _mac(self, context: bytes, value: str) -> str:
        return hmac.new(self.secret_keys[0].encode(), context + value.encode(),
                        hashlib.sha256).hexdigest()

    def csrf(self, session_id: str) -> str:
        return self._mac(CSRF_CONTEXT, session_id)

    def login_csrf(self, nonce: str) -> str:
        return self._mac(LOGIN_CSRF_CONTEXT, nonce)


def same_token(expected: str, given: str) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), given.encode())
