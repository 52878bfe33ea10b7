"""Exception tree. Every message is one line a user can act on.

LmbenchError
 ├── BackendUnreachable      the server did not answer at all
 ├── BackendHTTPError        the server answered with an error (any documented shape)
 │    ├── AuthError          401/403: names LM_API_TOKEN
 │    └── ModelNotFound      lists the models the server has
 ├── StreamError             cut, malformed or stalled stream; HTTP 200 with an error body
 │    └── RequestTimeout     a request or a stream gap took longer than --lm-timeout
 ├── ModelMismatch           another model answered than the one requested
 ├── LoadFailed              a model could not be loaded (or is refused, e.g. embeddings)
 └── SuiteError              a suite file or case is malformed

LmbenchWarning (a pytest.PytestWarning): something the run could not do, e.g. a
requested load setting that was not applied, or an unload that failed.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pytest_lmbench.redaction import scrub


class LmbenchError(Exception):
    """Base class: str(exc) is a complete one-line message, with any secret masked.

    ``kind`` is the result's ``error_kind`` when this ends an item: the model could
    not be asked, or its answer could not be read (a fault, not a low score).
    """

    kind = "protocol"

    def __init__(self, *args: object) -> None:
        # A server may echo the Authorization header (or a URL's password) in its error.
        super().__init__(*(scrub(arg) if isinstance(arg, str) else arg for arg in args))


class BackendUnreachable(LmbenchError):
    kind = "connection"


class BackendHTTPError(LmbenchError):
    kind = "http"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.code = code
        # HTTP 429's Retry-After, in seconds, when the server sent one it can be asked again.
        self.retry_after_s: float | None = None


class AuthError(BackendHTTPError):
    pass


class ModelNotFound(BackendHTTPError):
    pass


class StreamError(LmbenchError):
    kind = "stream"


class RequestTimeout(StreamError):
    kind = "timeout"


class ModelMismatch(LmbenchError):
    kind = "model_mismatch"


class LoadFailed(LmbenchError):
    kind = "load"


class SuiteError(LmbenchError):
    pass


class LmbenchWarning(pytest.PytestWarning):
    """Shown in pytest's warnings summary; the run goes on."""


def first_problem(exc: ValidationError) -> tuple[str, str]:
    """The first error of a pydantic validation as (dotted field path, message)."""
    first = exc.errors()[0]
    return ".".join(str(p) for p in first["loc"]) or "(top level)", first["msg"]
