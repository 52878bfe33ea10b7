"""Secrets never reach a report, a log, the store or the terminal: masking them;
and model or server text never drives the terminal: escaping its control characters.

At the bottom of the package, so the settings can mask a database password when
they describe themselves, and every :class:`~pytest_lmbench.errors.LmbenchError`
masks the API token in its message, even one a server echoed back in an error body.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# user:password@ in a URL, also one SQLAlchemy could not parse; the password is masked.
CREDENTIALS = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
# An Authorization header a server may echo back, whatever token it carries.
_BEARER = re.compile(r"(?i)\b(bearer)(\s+)[^\s\"',;}\]]+")
_MASK = "***"
# Too short to mask without masking ordinary words.
_MIN_SECRET_CHARS = 4
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask ``value`` in every message from now on (the API token, a URL's password)."""
    if value and len(value) >= _MIN_SECRET_CHARS:
        _secrets.add(value)


def scrub(text: str) -> str:
    """``text`` without any registered secret, ``Bearer`` token or URL password."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, _MASK)
    text = _BEARER.sub(rf"\1\2{_MASK}", text)
    return CREDENTIALS.sub(rf"\1{_MASK}@", text)


def url_secrets(url: str) -> None:
    """Register the password of ``user:password@`` in a server URL."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return
    register_secret(password)


def redact(url: str) -> str:
    """Mask the password of a URL string, even one that does not parse."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return CREDENTIALS.sub(r"\1***@", url)


# C0 and C1 control characters but tab and newline, and DEL: an ANSI or OSC
# sequence, a carriage return or a bell from a model must not act on a terminal or
# CI log; it is shown as an escape instead.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
MAX_MESSAGE_CHARS = 2000


def printable(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` with control characters escaped (``\\x1b``), at most ``limit`` characters."""
    shown = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    if len(shown) <= limit:
        return shown
    return f"{shown[:limit]}… ({len(shown) - limit:,} more characters)"
