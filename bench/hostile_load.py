"""How quickly okrbot answers while hostile requests are in flight (issue 11, finding 1).

    .venv/bin/python bench/hostile_load.py [--seconds 10] [--workers 4] [--dm]

The real bot (aiohttp + Bolt, SQLite in a temporary file, the Slack Web API emulator)
serves on a local port. For the whole window, `--workers` streams each send one 8 MB
body after another to `POST /slack/events` (unsigned forms, unsigned deeply nested
JSON, bodies with a forged signature), while probes time `GET /healthz` every 100 ms
and a signed `/okr help` every 250 ms. The goal: both answer within 1 s.

`--dm` also sends, every second, a signed DM whose line backtracked catastrophically in
the old DM grammar (`"KR-1" + 100 spaces + "x"`); its fix lives in the check-in code.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from storage.db import upgrade_async  # noqa: E402
from tests.support.harness import FakeClock, make_services, start_bot  # noqa: E402
from tests.support.hostile_load import hostile_load  # noqa: E402
from tests.support.slack_emulator import SlackEmulator  # noqa: E402


async def pathological_dms(sender: object, until: float) -> int:
    sent = 0
    while time.monotonic() < until:
        event = {
            "type": "message",
            "channel_type": "im",
            "channel": "DU1",
            "user": "U1",
            "text": "KR-1" + " " * 100 + "x",
        }
        await sender.event(event)  # type: ignore[attr-defined]
        sent += 1
        await asyncio.sleep(1.0)
    return sent


async def main(seconds: float, workers: int, with_dm: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        await upgrade_async(url)
        slack = SlackEmulator(bot_tokens={"xoxb-test": "T1"})
        await slack.start()
        slack.add_user("U1", "ana", tz="Europe/Madrid")
        clock = FakeClock()
        services = make_services(url, slack, clock)
        bot, runner = await start_bot(services, slack, clock)
        try:
            await bot.command('objective add "Bench"')
            await bot.command('kr add O-1 "Bench KR" from 0 to 10')
            quiet = await hostile_load(
                bot.url, bot.sender, slack.new_response_url(), seconds=2.0, workers=0
            )
            print("without hostile traffic:")
            for line in quiet.lines()[:2]:
                print("  " + line)
            extra = []
            if with_dm:
                extra.append(pathological_dms(bot.sender, time.monotonic() + seconds))
            loaded, *dms = await asyncio.gather(
                hostile_load(
                    bot.url, bot.sender, slack.new_response_url(), seconds=seconds, workers=workers
                ),
                *extra,
            )
            print(
                f"with {workers} hostile 8 MB streams for {seconds:g} s"
                + (f" and {dms[0]} pathological DMs:" if dms else ":")
            )
            for line in loaded.lines():
                print("  " + line)
            goal = max(loaded.healthz.worst, loaded.help.worst) < 1.0
            print(f"goal (both answer within 1 s): {'met' if goal else 'NOT met'}")
        finally:
            await runner.cleanup()
            await services.close()
            await slack.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--dm", action="store_true", help="also send pathological DMs")
    options = parser.parse_args()
    asyncio.run(main(options.seconds, options.workers, options.dm))
