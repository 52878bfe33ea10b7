"""The managed server's own stream publisher (``backends/llamacpp_serve.py``) on the real
llama-cpp-python server: the stock wire format, a client that leaves mid-stream frees
the model, and plain (unstreamed) requests still work."""

from __future__ import annotations

import json

import httpx

from pytest_lmbench.backends.llamacpp import ManagedLlamaServer


def _stream(server: ManagedLlamaServer, tokens: int) -> httpx.Request:
    body = {
        "model": server.model_key,
        "messages": [{"role": "user", "content": "Tell me about rivers."}],
        "max_tokens": tokens,
        "temperature": 0.0,
        "stream": True,
    }
    return httpx.Request("POST", f"{server.base_url}/v1/chat/completions", json=body)


def test_streams_keep_the_stock_wire_format(llama: ManagedLlamaServer) -> None:
    with httpx.Client(timeout=60) as client:
        response = client.send(_stream(llama, 8), stream=True)
        text = response.read().decode()
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    events = [e for e in text.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    assert sum(1 for c in chunks if c["choices"][0]["delta"].get("content")) == 8


def test_a_client_that_leaves_mid_stream_frees_the_model(llama: ManagedLlamaServer) -> None:
    with httpx.Client(timeout=60) as client:
        response = client.send(_stream(llama, 2000), stream=True)
        assert next(response.iter_lines()).startswith("data: ")
        response.close()
        # The decode stops at the next token; the next request gets the model.
        after = client.send(_stream(llama, 4), stream=True)
        assert after.read().decode().rstrip().endswith("data: [DONE]")


def test_a_plain_request_and_a_stream_behind_it_are_both_answered(
    llama: ManagedLlamaServer,
) -> None:
    plain = {
        "model": llama.model_key,
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 4,
    }
    with httpx.Client(timeout=60) as client:
        answer = client.post(f"{llama.base_url}/v1/chat/completions", json=plain)
        assert answer.json()["choices"][0]["message"]["role"] == "assistant"
        assert client.send(_stream(llama, 4)).read().decode().endswith("data: [DONE]\n\n")
