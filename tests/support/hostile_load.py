"""Hostile load against a running bot, for the in-suite check and `bench/hostile_load.py`:
while strangers keep unsigned 8 MB bodies in flight, how quickly do `/healthz` and a
signed `/okr help` answer?

Each hostile worker streams one 8 MB body after another (form, JSON, or with a forged
signature) for the whole window; the probes measure round trips meanwhile. The strangers
run in a process of their own, as they would on the internet: sharing the bot's event loop
they would slow it down by their own work, which no real attacker can.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.support.slack_requests import FORM, JSON, SlackRequestSender, sign

BODY_SIZE = 8 * 1024 * 1024
PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHUNK = 64 * 1024


@dataclass
class Probe:
    name: str
    seconds: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    @property
    def worst(self) -> float:
        return max(self.seconds, default=0.0)

    def line(self) -> str:
        if not self.seconds:
            return f"{self.name:<28} no answers"
        median = statistics.median(self.seconds)
        return (
            f"{self.name:<28} n={len(self.seconds):>3}  median {median * 1000:7.1f} ms  "
            f"worst {self.worst * 1000:7.1f} ms  statuses {sorted(set(self.statuses))}"
        )


@dataclass
class LoadResult:
    healthz: Probe
    help: Probe
    hostile_answers: dict[int, int]
    hostile_bodies_started: int

    def lines(self) -> list[str]:
        answers = ", ".join(f"{status}: {n}" for status, n in sorted(self.hostile_answers.items()))
        return [
            self.healthz.line(),
            self.help.line(),
            f"{'hostile 8 MB bodies':<28} started {self.hostile_bodies_started}, "
            f"answered {answers or 'none'}",
        ]


async def _body(kind: str) -> AsyncIterator[bytes]:
    yield b"payload=" if kind == "form" else b"["
    filler = (b"x" if kind == "form" else b"[") * CHUNK
    for _ in range(BODY_SIZE // CHUNK):
        yield filler
        await asyncio.sleep(0)


async def _hostile(
    url: str, kind: str, until: float, answers: dict[int, int], started: list[int]
) -> None:
    headers = {"Content-Type": FORM if kind != "json" else JSON}
    if kind == "forged":
        headers.update(sign("not-the-secret", "x"))
    headers["Content-Length"] = str(BODY_SIZE + 1)
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < until:
            started[0] += 1
            try:
                async with session.post(url, data=_body(kind), headers=headers) as response:
                    answers[response.status] = answers.get(response.status, 0) + 1
            except (TimeoutError, aiohttp.ClientError):
                answers[0] = answers.get(0, 0) + 1  # the server hung up mid-body: fine


async def _strangers(url: str, seconds: float, kinds: list[str]) -> None:
    """The child process: says "ready", streams for `seconds`, prints what came back."""
    answers: dict[int, int] = {}
    started = [0]
    print("ready", flush=True)
    until = time.monotonic() + seconds
    await asyncio.gather(*(_hostile(url, kind, until, answers, started) for kind in kinds))
    print(json.dumps({"answers": answers, "started": started[0]}), flush=True)


async def hostile_load(
    bot_url: str,
    sender: SlackRequestSender,
    response_url: str,
    *,
    seconds: float = 3.0,
    workers: int = 4,
    kinds: tuple[str, ...] = ("form", "json", "forged", "form"),
) -> LoadResult:
    """Run `workers` hostile streams (in a child process) for `seconds` while probing."""
    answers: dict[int, int] = {}
    started = 0
    strangers = None
    if workers:
        chosen = [kinds[i % len(kinds)] for i in range(workers)]
        strangers = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            __name__,
            f"{bot_url}/slack/events",
            str(seconds),
            *chosen,
            stdout=asyncio.subprocess.PIPE,
            cwd=PROJECT_ROOT,
        )
        assert strangers.stdout is not None
        assert (await strangers.stdout.readline()).strip() == b"ready"
    until = time.monotonic() + seconds
    healthz, help_probe = Probe("GET /healthz"), Probe("signed /okr help (ack)")

    async def probe_health() -> None:
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < until:
                begun = time.perf_counter()
                async with session.get(f"{bot_url}/healthz") as response:
                    await response.read()
                    healthz.statuses.append(response.status)
                healthz.seconds.append(time.perf_counter() - begun)
                await asyncio.sleep(0.1)

    async def probe_help() -> None:
        number = 0
        while time.monotonic() < until:
            number += 1  # Slack gives every command its own trigger id (no replays)
            answer = await sender.command(
                "/okr", "help", response_url=response_url, trigger_id=f"load-{number}"
            )
            help_probe.statuses.append(answer.status)
            help_probe.seconds.append(answer.elapsed)
            await asyncio.sleep(0.25)

    await asyncio.gather(probe_health(), probe_help())
    if strangers is not None:
        output, _ = await strangers.communicate()
        report = json.loads(output.decode().strip().splitlines()[-1])
        answers = {int(status): n for status, n in report["answers"].items()}
        started = report["started"]
    return LoadResult(healthz, help_probe, answers, started)


if __name__ == "__main__":
    asyncio.run(_strangers(sys.argv[1], float(sys.argv[2]), sys.argv[3:]))
