"""Every fault kind, on the v1, OpenAI-compatible and Ollama protocols."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from pytest_lmbench.testing import AnswerRule, Fault, LMStudioTestServer, OllamaTestServer

QWEN = "qwen/qwen3-4b"
CHAT = "/v1/chat/completions"
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]


def openai_body(text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"model": QWEN, "messages": [{"role": "user", "content": text}], **extra}


def raw_lines(url: str, body: dict[str, Any]) -> tuple[list[str], Exception | None]:
    """Lines received before the stream ended, and the transport error if it broke."""
    lines: list[str] = []
    try:
        with httpx.stream("POST", url, json=body) as response:
            for line in response.iter_lines():
                if line:
                    lines.append(line)
    except httpx.TransportError as exc:
        return lines, exc
    return lines, None


def content_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if '"content":"' in line and '"role"' not in line]


# -- pre-response faults --------------------------------------------------------------------

ERROR_SHAPES = [
    (
        400,
        {
            "error": {
                "message": "Invalid type for 'input'.",
                "type": "invalid_request_error",
                "param": "input",
                "code": "invalid_union",
            }
        },
    ),
    (
        400,
        {
            "error": {
                "message": "No models loaded. Please load a model.",
                "type": "invalid_request_error",
                "param": "model",
                "code": None,
            }
        },
    ),
    (400, {"error": "'response_format.type' must be 'json_schema' or 'text'"}),
    (404, {"error": {"type": "model_not_found", "message": "Model x not found"}}),
    (500, {"error": {"type": "internal_error", "message": "boom"}}),
]


@pytest.mark.parametrize(("status", "body"), ERROR_SHAPES)
def test_http_error_emits_any_shape(
    lmstudio_server: LMStudioTestServer, status: int, body: dict[str, Any]
) -> None:
    lmstudio_server.engine.faults.append(Fault("http_error", status=status, body=body))
    reply = httpx.post(lmstudio_server.base_url + CHAT, json=openai_body())
    assert reply.status_code == status
    assert reply.json() == body  # byte-for-byte shape, including "code": null


def test_http_error_defaults_and_text_body(lmstudio_server: LMStudioTestServer) -> None:
    engine, url = lmstudio_server.engine, lmstudio_server.base_url
    engine.faults.append(Fault("http_error", route="/api/v1/", times=1))
    v1 = httpx.get(url + "/api/v1/models")
    assert v1.status_code == 500
    assert v1.json()["error"]["type"] == "internal_error"
    engine.faults[:] = [Fault("http_error", status=502, body="<html>Bad gateway</html>", times=1)]
    proxy = httpx.get(url + "/v1/models")
    assert proxy.status_code == 502
    assert proxy.text == "<html>Bad gateway</html>"
    assert httpx.get(url + "/v1/models").status_code == 200  # times=1 used up
    assert engine.faults[0].fired == 1


def test_error_200(lmstudio_server: LMStudioTestServer) -> None:
    body = {"error": {"message": "Model crashed", "type": "internal_error"}}
    lmstudio_server.engine.faults.append(Fault("error_200", body=body))
    reply = httpx.post(lmstudio_server.base_url + CHAT, json=openai_body())
    assert reply.status_code == 200
    assert reply.json() == body


def test_match_route_and_times(lmstudio_server: LMStudioTestServer) -> None:
    engine, url = lmstudio_server.engine, lmstudio_server.base_url
    engine.faults.append(Fault("http_error", match="explode", route=CHAT, times=2, status=503))
    assert httpx.post(url + CHAT, json=openai_body("calm")).status_code == 200
    chat_v1 = {"model": QWEN, "input": "explode"}
    assert httpx.post(url + "/api/v1/chat", json=chat_v1).status_code == 200  # other route
    statuses = [httpx.post(url + CHAT, json=openai_body("explode")).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]


def test_answer_faults_spare_non_inference_routes(lmstudio_server: LMStudioTestServer) -> None:
    lmstudio_server.engine.faults.append(Fault("cut"))
    assert httpx.get(lmstudio_server.base_url + "/api/v1/models").status_code == 200
    assert lmstudio_server.engine.faults[0].fired == 0


# -- stream faults ----------------------------------------------------------------------


def test_cut_openai_stream(lmstudio_server: LMStudioTestServer) -> None:
    lmstudio_server.engine.faults.append(Fault("cut", after_tokens=3))
    lines, error = raw_lines(lmstudio_server.base_url + CHAT, openai_body(stream=True))
    assert isinstance(error, httpx.RemoteProtocolError)
    assert len(content_lines(lines)) == 3
    assert "data: [DONE]" not in lines
    assert '"finish_reason":"stop"' not in "".join(lines)


def test_cut_after_all_tokens_still_has_no_end(lmstudio_server: LMStudioTestServer) -> None:
    lmstudio_server.engine.faults.append(Fault("cut", after_tokens=1000))
    body = {"model": QWEN, "input": "hi", "stream": True}
    lines, error = raw_lines(lmstudio_server.base_url + "/api/v1/chat", body)
    assert error is not None
    assert sum(line == "event: message.delta" for line in lines) == 12
    assert "event: chat.end" not in lines


def test_cut_non_streaming(lmstudio_server: LMStudioTestServer) -> None:
    lmstudio_server.engine.faults.append(Fault("cut"))
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(lmstudio_server.base_url + CHAT, json=openai_body())


def test_malformed_sse_line(lmstudio_server: LMStudioTestServer) -> None:
    lmstudio_server.engine.faults.append(Fault("malformed", after_tokens=2))
    lines, error = raw_lines(lmstudio_server.base_url + CHAT, openai_body(stream=True))
    assert error is None
    assert lines[-1] == "data: [DONE]"
    bad = []
    for line in lines[:-1]:
        try:
            json.loads(line.removeprefix("data: "))
        except json.JSONDecodeError:
            bad.append(line)
    assert len(bad) == 1
    assert lines.index(bad[0]) == 3  # role chunk, two tokens, then the bad line


def test_malformed_v1_event_and_json_body(lmstudio_server: LMStudioTestServer) -> None:
    url = lmstudio_server.base_url
    lmstudio_server.engine.faults.append(Fault("malformed", times=2))
    lines, _ = raw_lines(url + "/api/v1/chat", {"model": QWEN, "input": "hi", "stream": True})
    broken = [x for x in lines if x.startswith("data: ") and not x.endswith("}")]
    assert len(broken) == 1
    reply = httpx.post(url + "/api/v1/chat", json={"model": QWEN, "input": "hi"})
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.text)


def test_stall(lmstudio_server: LMStudioTestServer) -> None:
    lmstudio_server.engine.preload(QWEN)
    lmstudio_server.engine.faults.append(Fault("stall", after_tokens=2, seconds=0.25))
    arrivals = []
    with httpx.Client() as client:
        start = time.perf_counter()
        with client.stream(
            "POST", lmstudio_server.base_url + CHAT, json=openai_body(stream=True)
        ) as r:
            for line in r.iter_lines():
                if '"delta":{"content":' in line:
                    arrivals.append(time.perf_counter() - start)
    # TTFT 20 ms, 2 ms per token: two tokens at once, the third not before 0.274 s.
    assert len(arrivals) == 12
    assert arrivals[1] < 0.2
    assert 0.27 <= arrivals[2] <= 0.4
    assert arrivals[-1] - arrivals[2] < 0.2  # then at full speed again


def test_wrong_model(lmstudio_server: LMStudioTestServer) -> None:
    engine, url = lmstudio_server.engine, lmstudio_server.base_url
    engine.faults.append(Fault("wrong_model", model="someone/else", times=1))
    assert httpx.post(url + CHAT, json=openai_body()).json()["model"] == "someone/else"
    engine.faults.append(Fault("wrong_model", times=1))
    v1 = httpx.post(url + "/api/v1/chat", json={"model": QWEN, "input": "hi"}).json()
    assert v1["model_instance_id"] not in (QWEN, "someone/else")


def test_bad_tool_args(lmstudio_server: LMStudioTestServer) -> None:
    engine = lmstudio_server.engine
    engine.answers.append(AnswerRule("call", tool_calls=[{"name": "f", "arguments": {"a": 1}}]))
    engine.faults.append(Fault("bad_tool_args"))
    reply = httpx.post(lmstudio_server.base_url + CHAT, json=openai_body("call", tools=TOOLS))
    arguments = reply.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    with pytest.raises(json.JSONDecodeError):
        json.loads(arguments)


def test_error_event_v1(lmstudio_server: LMStudioTestServer) -> None:
    lmstudio_server.engine.faults.append(Fault("error_event", after_tokens=2))
    body = {"model": QWEN, "input": "hi", "stream": True}
    lines, error = raw_lines(lmstudio_server.base_url + "/api/v1/chat", body)
    assert error is None
    events = [x.removeprefix("event: ") for x in lines if x.startswith("event: ")]
    assert events[-3:] == ["message.end", "error", "chat.end"]
    result = json.loads(lines[-1].removeprefix("data: "))["result"]
    assert result["stats"]["total_output_tokens"] == 2


def test_error_event_openai(lmstudio_server: LMStudioTestServer) -> None:
    lmstudio_server.engine.faults.append(Fault("error_event", after_tokens=1))
    lines, _ = raw_lines(lmstudio_server.base_url + CHAT, openai_body(stream=True))
    assert json.loads(lines[-1].removeprefix("data: "))["error"]["type"] == "server_error"
    assert "data: [DONE]" not in lines


def test_die_closes_the_server(lmstudio_server: LMStudioTestServer) -> None:
    url = lmstudio_server.base_url
    lmstudio_server.engine.faults.append(Fault("die", after_tokens=2))
    lines, error = raw_lines(url + CHAT, openai_body(stream=True))
    assert error is not None
    assert len(content_lines(lines)) == 2
    assert not lmstudio_server.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/v1/models")


# -- Ollama ------------------------------------------------------------------------------


def test_ollama_faults(ollama_server: OllamaTestServer) -> None:
    engine, url = ollama_server.engine, ollama_server.base_url + "/api/chat"
    body = {"model": "qwen3:4b", "messages": [{"role": "user", "content": "hi"}]}
    engine.faults.append(Fault("http_error", status=500, times=1, body={"error": "runner died"}))
    reply = httpx.post(url, json=body)
    assert (reply.status_code, reply.json()) == (500, {"error": "runner died"})
    engine.faults.append(Fault("malformed", after_tokens=1, times=1))
    lines, error = raw_lines(url, body)
    assert error is None
    assert sum(1 for x in lines if not x.endswith("}")) == 1
    assert json.loads(lines[-1])["done"] is True
    engine.faults.append(Fault("cut", after_tokens=4, times=1))
    lines, error = raw_lines(url, body)
    assert error is not None
    assert len(lines) == 4
    engine.faults.append(Fault("error_event", after_tokens=1, times=1))
    lines, _ = raw_lines(url, body)
    assert json.loads(lines[-1]) == {"error": "injected error"}
