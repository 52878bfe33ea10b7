"""An example third-party backend for pytest-lmbench: ``--lm-backend=echo``.

It talks to any OpenAI-compatible server (the bundled LM Studio test server's
``/v1`` routes in the tests) by reusing the OpenAI-compatible backend, and says
in its server facts which plugin answered. It imports only public backend
types; its ``create(options)``, named by the entry point, is the whole integration.
"""

from __future__ import annotations

from pytest_lmbench.backends.base import JSON, BackendOptions
from pytest_lmbench.backends.openai import OpenAIBackend

PLUGIN = "lmbench-echo-backend"


class EchoBackend(OpenAIBackend):
    name = "echo"

    def server_info(self) -> JSON:
        # Lands in the report's run.environment.server: which plugin measured.
        return {**super().server_info(), "backend": self.name, "plugin": PLUGIN}


def create(options: BackendOptions) -> EchoBackend:
    return EchoBackend(
        options.base_url,
        token=options.token,
        timeout_s=options.timeout_s,
        label="Echo (OpenAI-compatible)",
        launch_config=options.launch_config,
    )
