"""LMStudioBackend against the fake LM Studio: loads, routes and finish reasons."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_lmbench.backends.base import ChatRequest, ChatResult, ImageInput, LoadConfig
from pytest_lmbench.backends.lmstudio import LMStudioBackend
from pytest_lmbench.backends.lmstudio_load import LMS_GPU_NOTE, NO_LMS, chat_model_for
from pytest_lmbench.errors import LoadFailed
from pytest_lmbench.testing import (
    ANSWER_KEY,
    FakeModel,
    LMStudioTestServer,
    RecordedRequest,
    png_with_text,
)

QWEN, GEMMA = "qwen/qwen3-4b", "google/gemma-3-4b"
ECHOED_DEFAULTS = {
    "context_length": 4096,
    "eval_batch_size": 512,
    "flash_attention": True,
    "offload_kv_cache_to_gpu": True,
}


@pytest.fixture
def backend(lmstudio_server: LMStudioTestServer) -> Iterator[LMStudioBackend]:
    lmstudio_server.engine.script.ttft_s = 0.002
    lmstudio_server.engine.script.token_interval_s = 0.0002
    backend = LMStudioBackend(lmstudio_server.base_url, timeout_s=10.0, lms_path="")
    yield backend
    backend.close()


def chat(backend: LMStudioBackend, model: str, request: ChatRequest) -> ChatResult:
    async def run() -> ChatResult:
        async with backend.async_client() as client:
            return await backend.chat(client, model, request)

    return asyncio.run(run())


def posts(server: LMStudioTestServer) -> list[RecordedRequest]:
    return [r for r in server.engine.requests if r.method == "POST"]


# -- the REST load ------------------------------------------------------------------------


def test_rest_load_records_the_whole_echoed_config_as_applied(
    backend: LMStudioBackend, lmstudio_server: LMStudioTestServer
) -> None:
    result = backend.load(QWEN, LoadConfig(context_length=8192))
    (load,) = posts(lmstudio_server)
    assert load.json == {"model": QWEN, "echo_load_config": True, "context_length": 8192}
    assert result.requested == {"context_length": 8192}
    assert result.applied == {**ECHOED_DEFAULTS, "context_length": 8192}
    assert result.not_applied == {}
    assert result.instance_id == result.chat_model == QWEN


def test_applied_holds_the_server_defaults_when_nothing_is_requested(
    backend: LMStudioBackend,
) -> None:
    result = backend.load(QWEN, LoadConfig())
    assert result.requested == {}
    assert result.applied == ECHOED_DEFAULTS


def test_a_setting_the_server_did_not_echo_is_not_applied() -> None:
    # An MLX model gets no llama.cpp keys (fact sheet §1.2).
    with LMStudioTestServer([FakeModel("mlx/model", format="mlx")]) as server:
        backend = LMStudioBackend(server.base_url, timeout_s=10.0, lms_path="")
        result = backend.load("mlx/model", LoadConfig(context_length=2048, flash_attention=True))
        backend.close()
    assert result.applied == {"context_length": 2048}
    assert result.not_applied == {
        "flash_attention": "the server does not report flash_attention in force after the REST load"
    }


def test_a_setting_applied_with_another_value_is_not_applied() -> None:
    from pytest_lmbench.backends.lmstudio_load import not_applied_of

    reported = {"context_length": 4096, "flash_attention": True}
    missing = not_applied_of(
        {"context_length": 8192, "flash_attention": True, "gpu_offload": "max"},
        reported,
        how="the REST load",
    )
    assert missing == {"context_length": "the server applied 4096 instead of 8192"}


def test_gpu_offload_without_lms_is_not_applied(backend: LMStudioBackend) -> None:
    result = backend.load(QWEN, LoadConfig(gpu_offload="max"))
    assert result.not_applied == {"gpu_offload": NO_LMS}
    assert "gpu_offload" not in result.applied


def test_a_second_instance_is_chatted_with_by_its_instance_id(
    backend: LMStudioBackend, lmstudio_server: LMStudioTestServer
) -> None:
    lmstudio_server.engine.preload(QWEN)  # the user's own instance holds the bare key
    result = backend.load(QWEN, LoadConfig())
    assert result.instance_id == result.chat_model == f"{QWEN}:2"
    answer = chat(backend, result.chat_model, ChatRequest(prompt="Hello"))
    assert answer.model == f"{QWEN}:2"


def test_chat_model_rule() -> None:
    assert chat_model_for("a/b", "a/b") == "a/b"
    assert chat_model_for("a/b", "a/b:3") == "a/b:3"
    assert chat_model_for("a/b@q8_0", "a/b@q8_0:2") == "a/b@q8_0:2"
    # The server named the instance after the base key: the variant goes to chat unchanged.
    assert chat_model_for("a/b@q8_0", "a/b") == "a/b@q8_0"
    assert chat_model_for("a/b", "a/b-other") == "a/b"


# -- the `lms load --gpu` path ------------------------------------------------------------

FAKE_LMS = """\
import json, os, sys, urllib.request
args = sys.argv[1:]
with open(os.environ["FAKE_LMS_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[:1] == ["version"]:
    print("lms fake 0.0.1")
    sys.exit(0)
exit_code = int(os.environ.get("FAKE_LMS_EXIT", "0"))
if exit_code:
    print("Error: not enough memory to load the model", file=sys.stderr)
    sys.exit(exit_code)
if os.environ.get("FAKE_LMS_NOOP"):
    sys.exit(0)
opt = {args[i]: args[i + 1] for i in range(len(args) - 1) if args[i].startswith("--")}
fits = os.environ.get("FAKE_LMS_MAX_GPU")
gpu = {"max": "1", "off": "0"}.get(opt.get("--gpu", "0"), opt.get("--gpu", "0"))
if fits and float(gpu) > float(fits):
    print("Error: Failed to load model: failed to allocate buffer: out of memory", file=sys.stderr)
    sys.exit(1)
body = {"model": args[1]}
if "--context-length" in opt:
    body["context_length"] = int(opt["--context-length"])
url = f"http://{opt['--host']}:{opt['--port']}/api/v1/models/load"
request = urllib.request.Request(
    url, json.dumps(body).encode(), {"Content-Type": "application/json"}
)
urllib.request.urlopen(request).read()
print("Model loaded successfully")
"""


@pytest.fixture
def fake_lms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An executable ``lms`` that loads through the test server's REST API and logs its argv."""
    script = tmp_path / "lms"
    script.write_text(f"#!{sys.executable}\n{FAKE_LMS}")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("FAKE_LMS_LOG", str(tmp_path / "lms.log"))
    return script


def lms_calls(fake_lms: Path) -> list[list[str]]:
    log = fake_lms.parent / "lms.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def lms_backend(server: LMStudioTestServer, lms: Path) -> LMStudioBackend:
    return LMStudioBackend(server.base_url, timeout_s=20.0, lms_path=str(lms))


def test_lms_load_reads_the_applied_config_back(
    lmstudio_server: LMStudioTestServer, fake_lms: Path
) -> None:
    backend = lms_backend(lmstudio_server, fake_lms)
    result = backend.load(QWEN, LoadConfig(context_length=8192, gpu_offload="0.5"))
    backend.close()
    (call,) = lms_calls(fake_lms)
    port = lmstudio_server.base_url.rsplit(":", 1)[1]
    assert call == [
        *("load", QWEN, "--gpu", "0.5", "-y", "--host", "127.0.0.1", "--port", port),
        *("--context-length", "8192"),
    ]
    assert result.instance_id == QWEN
    assert result.applied == {
        **ECHOED_DEFAULTS,
        "parallel": 4,
        "context_length": 8192,
        "gpu_offload": {"value": "0.5", "source": "lms", "note": LMS_GPU_NOTE},
    }
    assert result.not_applied == {}
    assert result.load_time_s is None


def test_lms_load_finds_its_own_new_instance(
    lmstudio_server: LMStudioTestServer, fake_lms: Path
) -> None:
    lmstudio_server.engine.preload(QWEN, context_length=2048)
    backend = lms_backend(lmstudio_server, fake_lms)
    result = backend.load(QWEN, LoadConfig(context_length=8192, gpu_offload="max"))
    backend.close()
    assert result.instance_id == result.chat_model == f"{QWEN}:2"
    assert result.applied["context_length"] == 8192


def test_lms_load_has_no_flash_attention_flag(
    lmstudio_server: LMStudioTestServer, fake_lms: Path
) -> None:
    backend = lms_backend(lmstudio_server, fake_lms)
    result = backend.load(QWEN, LoadConfig(gpu_offload="max", flash_attention=False))
    backend.close()
    assert "--flash-attention" not in " ".join(lms_calls(fake_lms)[0])
    # The server's default (on) stays in force: reported as it is.
    assert result.applied["flash_attention"] is True
    assert result.not_applied == {"flash_attention": "the server applied True instead of False"}


def test_lms_exit_0_without_a_new_instance_confirms_nothing(
    lmstudio_server: LMStudioTestServer, fake_lms: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_LMS_NOOP", "1")
    backend = lms_backend(lmstudio_server, fake_lms)
    result = backend.load(QWEN, LoadConfig(context_length=8192, gpu_offload="max"))
    backend.close()
    assert result.applied == {
        "gpu_offload": {"value": "max", "source": "lms", "note": LMS_GPU_NOTE}
    }
    assert result.not_applied == {
        "context_length": "no new loaded instance of it appeared after `lms load`"
    }


def test_lms_failure_is_a_load_failure_with_its_message(
    lmstudio_server: LMStudioTestServer, fake_lms: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_LMS_EXIT", "3")
    backend = lms_backend(lmstudio_server, fake_lms)
    with pytest.raises(LoadFailed, match=r"`lms load qwen/qwen3-4b` failed \(exit 3\): .*memory"):
        backend.load(QWEN, LoadConfig(gpu_offload="max"))
    backend.close()


# -- chat routes ----------------------------------------------------------------------------


def route_of(server: LMStudioTestServer) -> tuple[str, dict[str, Any]]:
    request = [r for r in server.engine.requests if "chat" in r.path][-1]
    assert isinstance(request.json, dict)
    return request.path, request.json


@pytest.mark.parametrize(
    ("temperature", "route"),
    [(0.0, "/api/v1/chat"), (1.0, "/api/v1/chat"), (1.5, "/v1/chat/completions")],
)
def test_temperature_above_1_goes_to_the_openai_route(
    backend: LMStudioBackend, lmstudio_server: LMStudioTestServer, temperature: float, route: str
) -> None:
    result = chat(backend, QWEN, ChatRequest(prompt="Hello", temperature=temperature))
    path, body = route_of(lmstudio_server)
    assert (path, result.route) == (route, route)
    assert body["temperature"] == temperature


def test_forced_native_still_sends_high_temperatures_to_v1(
    lmstudio_server: LMStudioTestServer,
) -> None:
    backend = LMStudioBackend(lmstudio_server.base_url, timeout_s=10.0, api="native", lms_path="")
    result = chat(backend, QWEN, ChatRequest(prompt="Hello", temperature=2.0))
    backend.close()
    assert result.route == "/v1/chat/completions"


def _image_request() -> ChatRequest:
    png = png_with_text({ANSWER_KEY: "A red square."})
    return ChatRequest(prompt="What is in the image?", images=(ImageInput(png),))


def test_images_go_to_the_openai_route_with_usage(
    backend: LMStudioBackend, lmstudio_server: LMStudioTestServer
) -> None:
    result = chat(backend, GEMMA, _image_request())
    path, body = route_of(lmstudio_server)
    assert path == result.route == "/v1/chat/completions"
    assert body["stream_options"] == {"include_usage": True}
    (image,) = [p for p in body["messages"][-1]["content"] if p["type"] == "image_url"]
    assert base64.b64decode(image["image_url"]["url"].split(",", 1)[1]).startswith(b"\x89PNG")
    assert result.content == "A red square."
    assert result.output_tokens == 3
    assert not result.token_count_estimated


def test_forced_native_sends_images_to_the_native_route(
    lmstudio_server: LMStudioTestServer,
) -> None:
    backend = LMStudioBackend(lmstudio_server.base_url, timeout_s=10.0, api="native", lms_path="")
    result = chat(backend, GEMMA, _image_request())
    backend.close()
    path, body = route_of(lmstudio_server)
    assert path == result.route == "/api/v1/chat"
    assert [item["type"] for item in body["input"]] == ["text", "image"]
    assert result.content == "A red square."


# -- finish reasons on the native route ---------------------------------------------------


def test_native_finish_reason_is_unknown_when_the_server_gives_none(
    backend: LMStudioBackend,
) -> None:
    result = chat(backend, QWEN, ChatRequest(prompt="Hello"))
    assert result.route == "/api/v1/chat"
    assert (result.finish_reason, result.finish_reason_inferred) == (None, False)


def test_native_full_budget_is_an_inferred_length(backend: LMStudioBackend) -> None:
    result = chat(backend, QWEN, ChatRequest(prompt="Hello", max_tokens=5))
    assert result.output_tokens == 5
    assert (result.finish_reason, result.finish_reason_inferred) == ("length", True)


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ({"finish_reason": "stop", "stats": {}}, "stop"),
        ({"stats": {"stop_reason": "maxPredictedTokensReached"}}, "length"),
        ({"stats": {"stop_reason": "eosFound"}}, "stop"),
        ({"stats": {"stop_reason": "userStopped"}}, "userStopped"),
        ({"stats": {}}, None),
    ],
)
def test_a_finish_reason_the_server_gives_is_kept(
    result: dict[str, Any], expected: str | None
) -> None:
    from pytest_lmbench.backends.base import StreamTimeline
    from pytest_lmbench.backends.lmstudio import _apply_native
    from pytest_lmbench.backends.stream import StreamAccumulator

    acc = StreamAccumulator(route="/api/v1/chat", timeline=StreamTimeline(start_ns=0))
    assert _apply_native(acc, "chat.end", {"type": "chat.end", "result": result}, 1)
    assert acc.finish_reason == expected
    assert acc.finish_reason_inferred is False


def test_parallel_goes_through_lms_load_and_only_counts_when_reported(
    lmstudio_server: LMStudioTestServer, fake_lms: Path
) -> None:
    backend = lms_backend(lmstudio_server, fake_lms)
    result = backend.load(QWEN, LoadConfig(parallel=2, batch_size=256))
    backend.close()
    (call,) = lms_calls(fake_lms)
    port = lmstudio_server.base_url.rsplit(":", 1)[1]
    # No --gpu: no offload was asked for; `lms load` has no batch size flag.
    assert call == [*("load", QWEN, "-y", "--host", "127.0.0.1", "--port", port, "--parallel", "2")]
    assert "gpu_offload" not in result.applied
    # The fake lms loads through REST, which cannot set parallel: the server's 4 stays.
    assert result.not_applied == {
        "parallel": "the server applied 4 instead of 2",
        "batch_size": "the server applied 512 instead of 256",
    }


def test_rest_load_sends_the_batch_size_and_names_what_only_the_sdk_sets(
    backend: LMStudioBackend, lmstudio_server: LMStudioTestServer
) -> None:
    config = LoadConfig(batch_size=128, threads=4, mmap=False, parallel=2, gpu_layers=10)
    result = backend.load(QWEN, config)
    (load,) = posts(lmstudio_server)
    assert load.json == {"model": QWEN, "echo_load_config": True, "eval_batch_size": 128}
    assert result.applied["batch_size"] == result.applied["eval_batch_size"] == 128
    assert set(result.not_applied) == {"threads", "mmap", "parallel", "gpu_layers"}
    assert "useMmap" in result.not_applied["mmap"]
    assert "layer count" in result.not_applied["gpu_layers"]


def test_auto_offload_falls_back_through_lms_until_it_fits(
    lmstudio_server: LMStudioTestServer, fake_lms: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_lmbench.session import offload

    monkeypatch.setenv("FAKE_LMS_MAX_GPU", "0.5")
    backend = lms_backend(lmstudio_server, fake_lms)
    result = offload.load(backend, QWEN, LoadConfig(gpu_offload="auto"))
    backend.close()
    assert [call[call.index("--gpu") + 1] for call in lms_calls(fake_lms)] == ["1", "0.75", "0.5"]
    assert result.requested == {"gpu_offload": "auto"}
    assert result.applied["gpu_offload"]["value"] == "0.5"
    attempts = result.facts["offload_attempts"]
    assert [a["gpu_offload"] for a in attempts] == ["1", "0.75", "0.5"]
    assert "out of memory" in attempts[0]["error"]
    assert attempts[-1] == {"gpu_offload": "0.5", "loaded": True}
    assert result.facts["gpu_offload_loaded"] == "0.5"
