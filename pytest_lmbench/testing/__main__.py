"""``python -m pytest_lmbench.testing``: serve a fake LM Studio (or Ollama) by hand.

Prints the base URL as the first line of stdout and serves the default fake
models on loopback until Ctrl-C, so the plugin can be pointed at it:
``pytest --pyargs capability_suites --lm-model=qwen/qwen3-4b --lm-base-url=URL``.
"""

from __future__ import annotations

import argparse
import sys
import time

from pytest_lmbench.testing.fixtures import default_lmstudio_models, default_ollama_models
from pytest_lmbench.testing.httpserver import EngineServer
from pytest_lmbench.testing.lmstudio import LMStudioTestServer
from pytest_lmbench.testing.ollama import OllamaTestServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_lmbench.testing",
        description="Serve the fake LM Studio (or Ollama) test server on 127.0.0.1 until Ctrl-C.",
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port to listen on (default: a free one)"
    )
    parser.add_argument("--ollama", action="store_true", help="speak the Ollama API instead")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port: {args.port} is not a port number (0-65535)")
    server: EngineServer = (
        OllamaTestServer(default_ollama_models())
        if args.ollama
        else LMStudioTestServer(default_lmstudio_models())
    )
    try:
        url = server.start(args.port)
    except OSError as exc:
        parser.error(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}")
    print(url, flush=True)
    label = "Ollama" if args.ollama else "LM Studio"
    models = ", ".join(server.engine.models)
    print(f"fake {label} serving {models}; Ctrl-C stops it", file=sys.stderr, flush=True)
    try:
        # A "die" fault stops the server from inside; then this ends too.
        while server.running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
