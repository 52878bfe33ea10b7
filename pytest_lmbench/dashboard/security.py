"""Who may reach the dashboard, and who may start or stop runs.

It binds to loopback by default; a non-loopback address needs a token. Reading
is open to whoever reaches it (on loopback: this machine); starting and
stopping runs need the token, as a Bearer header (API) or, from the
dashboard's own form, a CSRF token bound to this server process. Without a
``--token`` a random one is made at start and printed once, never stored.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field

__all__ = ["CSP", "Access", "is_loopback"]

# Only our own files: no CDN, no inline script, nothing fetched elsewhere. Model
# output that slipped past escaping still could not run or phone home.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Access:
    token: str
    read_only: bool = False
    generated: bool = False  # the token was made at start (no --token)
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @classmethod
    def for_host(cls, host: str, token: str | None, *, read_only: bool = False) -> Access:
        """Refuses a non-loopback host without a token (``ValueError``, one line)."""
        if not token and not is_loopback(host):
            raise ValueError(
                f"--host {host} is not a loopback address: give --token "
                "(or LMBENCH_DASHBOARD_TOKEN) so that only you can start runs"
            )
        if token:
            return cls(token=token, read_only=read_only)
        return cls(token=secrets.token_urlsafe(24), read_only=read_only, generated=True)

    def bearer_ok(self, header: str | None) -> bool:
        scheme, _, given = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), self.token)

    def csrf_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given, self.csrf)
