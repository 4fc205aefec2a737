"""The page's sessions and CSRF tokens.

A browser's ``EventSource`` cannot send a header, so a service with an API key lets a browser
log in once (``POST /login`` with the key in the form's body) and gives it a session cookie
(:data:`COOKIE`: ``HttpOnly``, ``SameSite=Strict``, ``Path=/``) that its fetch and
EventSource calls send instead of the key.

* The cookie holds a random session id, never the key. The session lives in Redis as
  ``storyqa:web:session:<HMAC-SHA256 of the id under the key>`` for :data:`SESSION_TTL_S`:
  a logout deletes it, and a service started with another key knows none of the old ones.
* The CSRF token is the HMAC of the session id under the key (for another purpose than the
  session's name): bound to the session, stored nowhere, and of no use without the cookie.
  A request authenticated by the cookie that changes something (any method but ``GET``,
  ``HEAD``, ``OPTIONS``) must carry it as :data:`CSRF_HEADER` (or, for the page's logout
  form, as its ``csrf`` field); else 403 ``csrf_failed``. A request that sends the key itself
  needs no token.

Example:
    >>> token = csrf_token("key", "abc")
    >>> len(token), token == csrf_token("key", "abc"), token == csrf_token("other", "abc")
    (64, True, False)
    >>> header_key(None, "Bearer sq-1"), header_key("sq-2", None), header_key(None, None)
    ('sq-1', 'sq-2', None)
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import TYPE_CHECKING, Final

from services.store import PREFIX

if TYPE_CHECKING:
    import redis.asyncio
    from starlette.requests import Request
    from starlette.responses import Response

#: The session cookie.
COOKIE: Final = "storyqa_session"
#: How long a session lasts after its login (seconds).
SESSION_TTL_S: Final = 12 * 3600
#: The header that carries the CSRF token.
CSRF_HEADER: Final = "X-CSRF-Token"
#: Methods that change nothing (no CSRF token needed).
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
#: What a session id looks like (``secrets.token_urlsafe(32)``).
_SESSION_ID: Final = re.compile(r"^[A-Za-z0-9_-]{43}$")


class CsrfRefused(Exception):
    """A request authenticated by the session cookie without the session's CSRF token."""

    def __init__(self) -> None:
        super().__init__(
            f"missing or wrong CSRF token: a request authenticated by the page's session "
            f"cookie must send its page's {CSRF_HEADER}"
        )


def header_key(x_api_key: str | None, authorization: str | None) -> str | None:
    """The key a request sends (``X-API-Key``, else ``Authorization: Bearer``), or ``None``."""
    if x_api_key is not None:
        return x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


def same(given: str, expected: str) -> bool:
    """Whether ``given`` is ``expected`` (in constant time)."""
    return hmac.compare_digest(given.encode(), expected.encode())


def _mac(api_key: str, purpose: str, session_id: str) -> str:
    message = f"storyqa-web:{purpose}:{session_id}".encode()
    return hmac.new(api_key.encode(), message, hashlib.sha256).hexdigest()


def session_key(api_key: str, session_id: str) -> str:
    """The session's Redis key (its id never stored as it is)."""
    return f"{PREFIX}:web:session:{_mac(api_key, 'session', session_id)}"


def csrf_token(api_key: str, session_id: str) -> str:
    """The session's CSRF token."""
    return _mac(api_key, "csrf", session_id)


async def create_session(aredis: redis.asyncio.Redis, api_key: str) -> str:
    """A new session's id (kept for :data:`SESSION_TTL_S`)."""
    session_id = secrets.token_urlsafe(32)
    await aredis.set(session_key(api_key, session_id), "1", ex=SESSION_TTL_S)
    return session_id


async def end_session(aredis: redis.asyncio.Redis, api_key: str, session_id: str) -> None:
    """Forget the session (a logout)."""
    await aredis.delete(session_key(api_key, session_id))


async def session_of(request: Request, aredis: redis.asyncio.Redis, api_key: str) -> str | None:
    """The id of the live session whose cookie the request sends, or ``None``."""
    session_id = request.cookies.get(COOKIE, "")
    if not _SESSION_ID.fullmatch(session_id):
        return None
    if not await aredis.exists(session_key(api_key, session_id)):
        return None
    return session_id


def check_csrf(request: Request, api_key: str, session_id: str, given: str | None = None) -> None:
    """Refuse a state-changing request without the session's CSRF token (``given``, else the
    :data:`CSRF_HEADER` header).

    Raises:
        CsrfRefused: Answered 403 ``csrf_failed``.
    """
    if request.method in SAFE_METHODS:
        return
    token = given if given is not None else request.headers.get(CSRF_HEADER, "")
    if not same(token, csrf_token(api_key, session_id)):
        raise CsrfRefused


def set_cookie(response: Response, session_id: str, *, secure: bool) -> None:
    """Give the browser its session cookie (``Secure`` when the page was served over HTTPS)."""
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=SESSION_TTL_S,
        path="/",
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def clear_cookie(response: Response, *, secure: bool) -> None:
    """Make the browser forget its session cookie."""
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=secure)
