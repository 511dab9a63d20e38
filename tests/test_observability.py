"""What an operator sees: Prometheus metrics after a few jobs, and log lines that carry job context."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import aiohttp
import yaml

from bot.process.logs import JsonFormatter
from tests.discord_helpers import final, imagine
from tests.fakes.discord_api import USER_ID
from tests.stack import Stack


async def test_metrics_after_a_few_jobs(stack: Stack) -> None:
    comfy, discord = stack.comfys[0], stack.discord
    async with stack.start(metrics=True) as app:
        delivered = [await imagine(discord, f"m{n}", user=USER_ID + n) for n in range(2)]
        for interaction in delivered:
            await discord.until(final(discord, interaction))
        comfy.failures["KSampler"] = ("RuntimeError", "out of memory")
        failed = await imagine(discord, "will fail", user=USER_ID + 5)
        await discord.until(final(discord, failed))
        await app.engine.wait_idle()
        assert app.metrics_port is not None
        app.metrics.describe_process("host-a:1", "postgresql", "held")  # as `run` does once the lease is held
        url = f"http://127.0.0.1:{app.metrics_port}/metrics"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.status == 200
            text = await response.text()
    lines = set(text.splitlines())
    assert 'comfybot_jobs_total{outcome="delivered"} 2.0' in lines
    assert 'comfybot_jobs_total{outcome="failed"} 1.0' in lines
    assert "comfybot_job_run_seconds_count 3.0" in lines and "comfybot_job_wait_seconds_count 3.0" in lines
    assert "comfybot_queue_depth 0.0" in lines and "comfybot_discord_rate_limited_total 0.0" in lines
    assert 'comfybot_backend_up{backend="gpu1"} 1.0' in lines
    warm = 'comfybot_backend_model_warm{backend="gpu1",model="CheckpointLoaderSimple:v1-5-pruned-emaonly.safetensors"}'
    assert f"{warm} 1.0" in lines  # what the backend has loaded, and what a load took there
    assert any(line.startswith('comfybot_backend_model_load_seconds{backend="gpu1"} ') for line in lines)
    assert 'comfybot_process{database="postgresql",lease="held",process="host-a:1"} 1.0' in lines
    edits = next(line for line in lines if line.startswith("comfybot_discord_edits_total "))
    assert float(edits.split()[1]) >= 3


async def test_log_lines_carry_the_job_and_its_member(stack: Stack) -> None:
    discord = stack.discord
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    engine_log = logging.getLogger("bot.jobs.engine")
    engine_log.addHandler(handler)
    engine_log.setLevel(logging.INFO)
    try:
        async with stack.start() as app:
            interaction = await imagine(discord, "logged")
            await discord.until(final(discord, interaction))
            await app.engine.wait_idle()  # delivered is recorded just after the result is shown
    finally:
        engine_log.removeHandler(handler)
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    delivered = next(e for e in entries if e["message"].endswith("is delivered"))
    assert delivered["user_id"] == USER_ID and delivered["guild_id"] == 2000 and delivered["backend"] == "gpu1"
    assert delivered["prompt_id"].startswith(delivered["job_id"])


async def test_healthz_and_readyz_answer_an_orchestrator_with_why_not_ready(stack: Stack) -> None:
    """/healthz: the process lives. /readyz: 200 when connected to Discord with its database and a ComfyUI that
    answers; 503 with the reason, one line each, when no ComfyUI server answers; off unless metrics are on."""
    comfy, discord = stack.comfys[0], stack.discord

    async def get(port: int, path: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}{path}") as response:
            return response.status, await response.text()

    async with stack.start(metrics=True) as app:
        assert app.metrics_port is not None
        await discord.until(app.bot.is_ready)
        health, ready = await get(app.metrics_port, "/healthz"), await get(app.metrics_port, "/readyz")
        await comfy.stop()  # the only ComfyUI server goes away
        await app.pool.check_all()
        await app.pool.check_all()
        unready = await get(app.metrics_port, "/readyz")
        still = await get(app.metrics_port, "/healthz")
    assert health == (200, "ok\n") and ready == (200, "ready\n")
    assert unready == (503, "no ComfyUI server answers: gpu1 (see /status or check)\n")
    assert still == (200, "ok\n")
    async with stack.start() as app:  # metrics off: nothing listens
        assert app.metrics_port is None


DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


async def test_every_dashboard_and_alert_query_names_a_metric_the_bot_exports(stack: Stack) -> None:
    """deploy/grafana's dashboard and deploy/prometheus's alert rules name only series a running bot exports
    (after a job, so that the histograms have their samples)."""
    discord = stack.discord
    async with stack.start(metrics=True) as app:
        asked = await imagine(discord, "a fox")
        await discord.until(final(discord, asked))
        await app.engine.wait_idle()
        app.metrics.describe_process("host-a:1", "sqlite", "none")
        url = f"http://127.0.0.1:{app.metrics_port}/metrics"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            text = await response.text()
    exported = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line.startswith("comfybot_")}
    dashboard = json.loads((DEPLOY / "grafana" / "comfy-discord-bot.json").read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    queries += [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    named = {name for query in queries for name in re.findall(r"comfybot_[a-z_]+", query)}
    assert len(queries) >= 14 and named, queries
    assert named <= exported, sorted(named - exported)
    assert {"comfybot_job_wait_seconds_bucket", "comfybot_backend_up", "comfybot_discord_rate_limited_total"} <= named
    assert {"comfybot_jobs_total", "comfybot_delivery_seconds_bucket"} <= named
