"""Secrets in settings never reach a report, a log or the store: masking them.

Here, at the bottom, so that the settings can mask a database password when
they describe themselves, before any store exists.
"""

from __future__ import annotations

import re

# user:password@ in a URL, also one SQLAlchemy could not parse; the password is masked.
CREDENTIALS = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def redact(url: str) -> str:
    """Mask the password of a URL string, even one that does not parse."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return CREDENTIALS.sub(r"\1***@", url)
