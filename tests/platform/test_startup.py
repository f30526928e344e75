"""The web process starts in under 2 s with the assistant configured (docs/PERFORMANCE.md, "The
assistant"): the guard of that figure is that nothing the web process loads imports litellm,
which alone takes seconds to import. Only the assistant's jobs (through
server/assistant/provider.py) and `riskops assistant check` may load it.

Checked in a fresh interpreter (the test session itself imports litellm in the assistant's
tests): the app built from the environment, with a model, an API base, a key and a fallback
configured, through its lifespan (database, scheduler) and a request to /health, plus the
`riskops` command's modules. The web process has jobs on a worker here (RISKOPS_REDIS_URL set,
as in production): without one, the embedded default imports litellm in a thread once it has
started, so the first in-process assistant job does not hold the event loop for seconds
(server/app.py) — that is after start-up, and the second test checks it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# litellm and what only litellm brings in (its OpenAI client and tokenizers)
HEAVY = ("litellm", "openai", "tiktoken", "tokenizers")

PROBE = """
import json, sys, time
started = time.perf_counter()
from riskops.server.settings import load_settings
from riskops.server.app import create_app
import riskops.server.cli  # the `riskops` command (serve imports uvicorn only when it runs)
from starlette.testclient import TestClient

settings = load_settings()
assert settings.assistant_model == "openai/gpt-4o-mini", settings.assistant_model
app = create_app(settings)
with TestClient(app) as client:  # runs the lifespan: database, audit flushes, scheduler
    status = client.get("/health").status_code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
print(json.dumps({"status": status, "heavy": heavy,
                  "seconds": time.perf_counter() - started}))
"""


def _assistant_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKOPS_")}
    env.pop("AGENT_SAFE_MODE", None)
    env.update(
        RISKOPS_ENV="dev",
        RISKOPS_VAR_DIR=str(tmp_path / "var"),
        RISKOPS_DATABASE_URL=f"sqlite://{tmp_path / 'riskops.sqlite3'}",
        RISKOPS_ASSISTANT_MODEL="openai/gpt-4o-mini",
        RISKOPS_ASSISTANT_API_BASE="http://127.0.0.1:9/v1",  # never called
        RISKOPS_ASSISTANT_API_KEY="sk-test-not-a-real-key",
        RISKOPS_ASSISTANT_FALLBACKS='["openai/gpt-4o"]',
        RISKOPS_ASSISTANT_TIMEOUT_SECONDS="10",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        RISKOPS_REDIS_URL="redis://127.0.0.1:6379/15",  # jobs on a worker: never connected here
    )
    return env


def test_the_web_process_with_the_assistant_configured_does_not_import_litellm(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{PROBE}"],
        cwd=tmp_path, env=_assistant_env(tmp_path), capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] in (200, 503), result  # 503: this empty database is not migrated
    assert result["heavy"] == [], (
        f"the web process imported {result['heavy']}: import litellm only inside the functions "
        "of server/assistant/provider.py (docs/PERFORMANCE.md, The assistant: start-up)"
    )


def test_the_probe_would_see_litellm_if_it_were_imported(tmp_path):
    """The guard above is not vacuous: the same probe, with litellm imported, names it."""
    probe = f"HEAVY = {HEAVY!r}\nimport litellm  # noqa\n{PROBE}"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=_assistant_env(tmp_path),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    assert "litellm" in json.loads(done.stdout.strip().splitlines()[-1])["heavy"]


WARM = """
import json, sys, time
from riskops.server.settings import load_settings
from riskops.server.app import create_app
from starlette.testclient import TestClient

settings = load_settings()
assert settings.redis_url is None
app = create_app(settings)
with TestClient(app) as client:
    started = time.perf_counter()
    status = client.get("/health").status_code
    first = time.perf_counter() - started
    deadline = time.monotonic() + 90
    while "litellm" not in sys.modules and time.monotonic() < deadline:
        time.sleep(0.05)
    from riskops.server.assistant import provider
    while provider._router is None and time.monotonic() < deadline:
        time.sleep(0.05)
    warmed = provider._router is not None
print(json.dumps({"status": status, "first": first, "warmed": warmed}))
"""


def test_without_a_worker_litellm_is_warmed_in_a_thread_after_start(tmp_path):
    env = _assistant_env(tmp_path)
    env.pop("RISKOPS_REDIS_URL")
    done = subprocess.run(
        [sys.executable, "-c", WARM], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] in (200, 503), result
    assert result["warmed"], "the Router was not built in the background after start-up"
