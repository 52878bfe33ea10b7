"""Which sampling settings a route carries, and the record of what it carried.

Every backend asks :func:`split` with the fields its route documents; what the
route takes goes into the request body and is recorded as applied, the rest is
recorded as not applied with the reason (never silently dropped).
"""

from __future__ import annotations

from collections.abc import Mapping

from pytest_lmbench.backends.base import JSON, ChatResult, Sampling

# Our name -> the request field, where a route spells it like OpenAI or llama.cpp.
SAME_NAMES: Mapping[str, str] = {
    "top_k": "top_k",
    "top_p": "top_p",
    "min_p": "min_p",
    "repeat_penalty": "repeat_penalty",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "stop": "stop",
}
# The OpenAI API's own; the others are llama.cpp extensions of it.
OPENAI_STANDARD = ("top_p", "presence_penalty", "frequency_penalty", "stop")


class Carried:
    """The body fields for one request and the applied / not-applied record."""

    def __init__(self) -> None:
        self.fields: JSON = {}
        self.applied: JSON = {}
        self.not_applied: dict[str, str] = {}

    def stamp(self, result: ChatResult) -> ChatResult:
        result.sampling_applied = dict(self.applied)
        result.sampling_not_applied = dict(self.not_applied)
        return result


def split(
    sampling: Sampling,
    taken: Mapping[str, str],
    why_not: str,
    *,
    unconfirmed: Mapping[str, str] | None = None,
) -> Carried:
    """Sort ``sampling`` into what the route takes (``taken``: name -> field) and not.

    ``why_not`` is the reason for a setting the route does not take; ``{name}``
    in it is replaced by the setting. ``unconfirmed`` names settings sent anyway
    (the route may take them) but not recorded as applied, with their reason.
    """
    carried = Carried()
    for name, value in sampling.requested().items():
        field = taken.get(name)
        if field is None:
            carried.not_applied[name] = why_not.format(name=name)
            continue
        carried.fields[field] = value
        if unconfirmed and name in unconfirmed:
            carried.not_applied[name] = unconfirmed[name]
        else:
            carried.applied[name] = value
    return carried
