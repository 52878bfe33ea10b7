"""Property tests of everything that reads what a server sends.

The stream decoders never raise on any bytes and decode the same events however
the bytes are split across network reads; the error-body parser never raises
and always gives one bounded line; folding any JSON a server streams into a
result raises nothing but a one-line :class:`LmbenchError`. (The metrics have
their own property tests in ``tests/metrics/test_properties.py``.)
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pytest_lmbench.backends import http
from pytest_lmbench.backends.base import StreamTimeline
from pytest_lmbench.backends.lmstudio import _apply_native
from pytest_lmbench.backends.ollama import apply_line
from pytest_lmbench.backends.openai import _apply_chunk, _non_stream
from pytest_lmbench.backends.stream import StreamAccumulator
from pytest_lmbench.errors import AuthError, BackendHTTPError, LmbenchError, StreamError

PROPERTY = settings(max_examples=200, deadline=None)

# Pieces that matter to the framing, plus arbitrary bytes and text (multi-byte UTF-8
# included, so a split can fall inside a character).
SSE_PIECES = st.sampled_from(
    [b"data: ", b"data:", b"event: ", b"event:message.delta", b": keep-alive", b"id: 1",
     b"retry: 10", b"\n", b"\r\n", b"\r", b"\n\n", b"[DONE]", b'{"a": 1}', b"{", b"\xc3\xa9",
     b"\xe2\x82", b"\xac", b"\xff", b"\x00", b" "]
)  # fmt: skip
STREAM_BYTES = st.lists(
    st.one_of(SSE_PIECES, st.binary(max_size=12), st.text(max_size=8).map(str.encode)),
    max_size=40,
).map(b"".join)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
# Keys the folding code looks for, so the fuzzer reaches past the first lookup.
STREAM_KEYS = st.sampled_from(
    ["error", "model", "usage", "timings", "choices", "delta", "content", "reasoning_content",
     "reasoning", "tool_calls", "index", "id", "function", "name", "arguments",
     "finish_reason", "message", "thinking", "done", "done_reason", "prompt_eval_count",
     "eval_count", "eval_duration", "type", "result", "stats", "model_instance_id",
     "input_tokens", "total_output_tokens", "tokens_per_second", "prompt_tokens",
     "completion_tokens"]
)  # fmt: skip
STREAM_PAYLOADS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(STREAM_KEYS, inner, max_size=5),
    max_leaves=20,
).filter(lambda value: isinstance(value, dict))
NATIVE_EVENTS = st.sampled_from(
    ["message.delta", "reasoning.delta", "chat.start", "chat.end", "error", "model_load.start",
     None, 3]
)  # fmt: skip


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def decode(decoder: http.SSEDecoder | http.NDJSONDecoder, chunks: list[bytes]) -> list[Any]:
    events = []
    for index, chunk in enumerate(chunks):
        events += decoder.feed(chunk, index)
    events += decoder.flush(len(chunks))
    for event in events:
        assert isinstance(event.data, str)
        assert event.event is None or isinstance(event.event, str)
    # Arrival stamps depend on the split by design; the events themselves must not.
    return [(e.event, e.data) for e in events]


@PROPERTY
@given(STREAM_BYTES, st.lists(st.integers(min_value=0), max_size=10))
@example(b"data: \xe2\x82\xac\r\n\r\n", [8])  # a CRLF and a character split across reads
@example(b"data: a\ndata: b\n\nevent: x\ndata: {}", [3, 11])  # a last event with no blank line
@example(b"data: \n", [])  # a read ending after a line, before its blank line
@example(b'data: {"a":1}\n\ndata: {"b":2}\n', [])  # whole events, then a line
def test_sse_decoder_never_raises_and_ignores_how_bytes_are_split(
    data: bytes, cuts: list[int]
) -> None:
    whole = decode(http.SSEDecoder(), [data])
    assert decode(http.SSEDecoder(), split(data, cuts)) == whole
    assert decode(http.SSEDecoder(), [bytes([b]) for b in data]) == whole


@PROPERTY
@given(STREAM_BYTES, st.lists(st.integers(min_value=0), max_size=10))
@example(b"\x1c", [])  # found by Hypothesis: blank to str.strip, not to bytes.strip
@example(b'{"a": 1}\n\x1f\n{"b": 2}', [9])
def test_ndjson_decoder_never_raises_and_ignores_how_bytes_are_split(
    data: bytes, cuts: list[int]
) -> None:
    whole = decode(http.NDJSONDecoder(), [data])
    assert decode(http.NDJSONDecoder(), split(data, cuts)) == whole
    assert all(line.strip() for _, line in whole)


@PROPERTY
@given(st.lists(JSON_VALUES, max_size=5), st.lists(st.integers(min_value=0), max_size=6))
def test_sse_decoder_gives_back_every_data_payload(payloads: list[Any], cuts: list[int]) -> None:
    wire = b"".join(b"data: %s\n\n" % json.dumps(p).encode() for p in payloads)
    events = decode(http.SSEDecoder(), split(wire, cuts))
    assert [json.loads(data) for _, data in events] == json.loads(json.dumps(payloads))


@PROPERTY
@given(st.text(max_size=40))
def test_malformed_event_json_is_a_one_line_stream_error(text: str) -> None:
    event = http.StreamEvent(None, text, 0)
    try:
        json.loads(text)
    except ValueError:
        with pytest.raises(
            StreamError, match=r"^LM Studio sent malformed JSON in the stream: "
        ) as caught:
            http.load_event_json(event, "LM Studio")
        assert "\n" not in str(caught.value)
    else:
        http.load_event_json(event, "LM Studio")


ERROR_BODIES = st.one_of(
    JSON_VALUES,
    st.dictionaries(st.sampled_from(["error", "message", "detail"]), JSON_VALUES, max_size=3),
    st.builds(
        lambda err: {"error": err},
        st.one_of(
            st.text(),
            st.dictionaries(st.sampled_from(["message", "type", "code", "param"]), JSON_VALUES),
        ),
    ),
    st.text(),
    st.binary(),
)


@PROPERTY
@given(st.integers(min_value=100, max_value=599), ERROR_BODIES)
@example(500, {"error": {"message": "a\nb", "type": "x\ny", "code": "c\r\nd"}})
@example(200, {"error": True})
@example(200, {"error": {"message": None}})
@example(400, {"error": "x" * 100_000})
def test_error_from_body_never_raises_and_gives_one_bounded_line(status: int, body: Any) -> None:
    err = http.error_from_body(status, body, label="LM Studio", what="chat")
    has_error = isinstance(body, dict) and bool(body.get("error"))
    if status < 400 and not has_error:
        assert err is None
        return
    assert isinstance(err, BackendHTTPError)
    assert err.status == status
    text = str(err)
    assert text.startswith(f"LM Studio chat failed (HTTP {status}")
    assert "\n" not in text
    assert "\r" not in text
    assert len(text) < 1200, len(text)
    assert isinstance(err, AuthError) == (status in (401, 403) or err.code == "invalid_api_key")
    if isinstance(err, AuthError):
        assert "LM_API_TOKEN" in text


def accumulator() -> StreamAccumulator:
    return StreamAccumulator(route="/x", timeline=StreamTimeline(start_ns=0))


def folds_cleanly(fold: Any) -> None:
    """Folding may refuse a payload only with a one-line LmbenchError."""
    refused: LmbenchError | None = None
    try:
        fold()
    except LmbenchError as exc:
        refused = exc
    assert refused is None or "\n" not in str(refused)


@PROPERTY
@given(STREAM_PAYLOADS)
@example({"choices": [1]})
@example({"choices": [{"delta": ["x"]}]})
@example({"choices": [{"delta": {"tool_calls": [{"function": "f"}]}}]})
def test_openai_chunks_of_any_shape_fold_or_fail_cleanly(payload: dict[str, Any]) -> None:
    acc = accumulator()
    folds_cleanly(lambda: _apply_chunk(acc, payload, 1, "LM Studio"))
    acc.result(2)


@PROPERTY
@given(STREAM_PAYLOADS)
@example({"done": True, "message": {"tool_calls": [{"function": {"arguments": 1}}]}})
def test_ollama_lines_of_any_shape_fold_or_fail_cleanly(payload: dict[str, Any]) -> None:
    acc = accumulator()
    folds_cleanly(lambda: apply_line(acc, payload, 1))
    acc.result(2)


@PROPERTY
@given(NATIVE_EVENTS, STREAM_PAYLOADS)
@example("chat.end", {"result": ["x"]})
@example("chat.end", {"result": {"stats": "fast"}})
def test_lmstudio_v1_events_of_any_shape_fold_or_fail_cleanly(
    kind: Any, payload: dict[str, Any]
) -> None:
    acc = accumulator()
    folds_cleanly(lambda: _apply_native(acc, kind, payload, 1))
    acc.result(2)


@PROPERTY
@given(STREAM_PAYLOADS)
@example({"choices": [{"message": {"content": [{"type": "text", "text": "hi"}]}}]})
@example({"choices": [{"message": {"tool_calls": [{"function": ["f"]}]}, "finish_reason": 1}]})
def test_non_streamed_answers_of_any_shape_fold_or_fail_cleanly(body: dict[str, Any]) -> None:
    """A server that ignores ``stream: true`` and answers one JSON body."""
    # json.dumps, not httpx's encoder: a server may well send Infinity or NaN.
    response = httpx.Response(
        200, content=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    raw = response.read()
    result: list[Any] = []
    folds_cleanly(lambda: result.append(_non_stream(accumulator(), response, raw, "LM Studio")))
    for done in result:
        assert isinstance(done.content, str)
        assert all(isinstance(c.arguments_json, str) for c in done.tool_calls)
