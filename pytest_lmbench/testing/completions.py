"""``POST /api/v0/completions``: LM Studio's legacy text completion (fact sheet §2.3).

No prompt template is applied, so the prompt's tokens are all the input tokens and
no reasoning is separated. The body is ``"object": "text_completion"`` with
``choices[{index, text, logprobs, finish_reason}]`` plus v0's ``usage``, ``stats``,
``model_info`` and ``runtime``; ``finish_reason: "length"`` pairs with
``stop_reason: "maxPredictedTokensReached"``. Streaming uses OpenAI's SSE framing and,
like v0 chat, sends neither stats nor usage unless the ``v0_stream_stats`` quirk is on.
"""

from __future__ import annotations

import time
from typing import Any

from pytest_lmbench.testing.answers import JSON, Plan, Turn, count_tokens
from pytest_lmbench.testing.engine import FakeEngine, Fault, Quirks
from pytest_lmbench.testing.httpserver import Exchange, SSEWriter, send_json_with_faults
from pytest_lmbench.testing.openai_compat import (
    RequestError,
    openai_error,
    planned_answer,
    random_id,
    usage_of,
    v0_extras,
)
from pytest_lmbench.testing.pacing import Pacer, plan_chunks


def parse_completion(body: Any) -> tuple[Turn, bool]:
    """The request as a Turn, and whether it streams; raises RequestError (string errors)."""
    if not isinstance(body, dict):
        raise RequestError(400, {"error": "Request body must be a JSON object"})
    prompt = body.get("prompt")
    if not isinstance(prompt, str):
        raise RequestError(400, {"error": "'prompt' field is required"})
    limit = body.get("max_tokens")  # -1 means unlimited, as on v0 chat
    turn = Turn(
        model=str(body.get("model") or ""),
        texts=[prompt],
        user_text=prompt,
        max_tokens=limit if isinstance(limit, int) and limit >= 0 else None,
        reasoning_allowed=False,
    )
    return turn, body.get("stream") is True


def _choice(text: str, finish: str | None) -> JSON:
    return {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}


def completions(engine: FakeEngine, ex: Exchange, faults: list[Fault]) -> None:
    script, quirks = engine.snapshot()
    try:
        turn, stream = parse_completion(ex.json)
        plan = planned_answer(engine, turn, faults, quirks, chat=False)
    except RequestError as err:
        ex.send_json(err.status, err.body)
        return
    plan.prompt_tokens = count_tokens(turn.user_text)  # no chat template around it
    pacer = Pacer(script, ex.received_ns, plan.prompt_tokens, faults)
    if plan.load_s is not None:
        pacer.mark_ready()
    head: JSON = {
        "id": random_id("cmpl-"),
        "object": "text_completion",
        "created": int(time.time()),
        "model": plan.instance_id,
    }
    if stream:
        _stream(engine, ex, plan, pacer, quirks, head)
        return
    deferred = [c.fault for c in pacer.run(plan_chunks(plan, script.tokens_per_chunk)) if c.fault]
    timing = pacer.timing(plan.output_tokens)
    body = {
        **head,
        "choices": [_choice(plan.content_text, plan.finish_reason)],
        "usage": usage_of(plan, quirks),
        **v0_extras(engine, plan, timing),
    }
    send_json_with_faults(ex, 200, body, deferred)


def _stream(
    engine: FakeEngine, ex: Exchange, plan: Plan, pacer: Pacer, quirks: Quirks, head: JSON
) -> None:
    sse = SSEWriter(ex)
    for chunk in pacer.run(plan_chunks(plan, pacer.script.tokens_per_chunk)):
        if chunk.kind == "content":
            sse.data({**head, "choices": [_choice(chunk.text, None)]})
        elif chunk.kind == "malformed":
            sse.malformed()
        elif chunk.kind == "error":
            body = chunk.fault.body if chunk.fault and isinstance(chunk.fault.body, dict) else None
            sse.data(body or openai_error("Injected stream error", type_="server_error"))
            sse.close()
            return
        elif chunk.kind == "cut":
            ex.abort()
        elif chunk.kind == "die":
            ex.die()
    extra: JSON = {}
    if quirks.v0_stream_stats:
        timing = pacer.timing(plan.output_tokens)
        extra = {"usage": usage_of(plan, quirks), **v0_extras(engine, plan, timing)}
    sse.data({**head, "choices": [_choice("", plan.finish_reason)], **extra})
    sse.done()
    sse.close()
