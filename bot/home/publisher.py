"""Publishing the Home tab: on `app_home_opened`, and again after changes that touch a
viewer, debounced so a burst of changes (a modal saving five key results) publishes once.

Who looks at Home is remembered per process for a day after they last opened it; a
viewer's last published view is kept as a hash, so the periodic refresh (every tick) calls
`views.publish` only when it changed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.home import FIRST_PAGE, PAGE_STEP, render_home_tab
from bot.core.tasks import Background
from bot.home.service import HomeService
from bot.slack.clients import SlackClients

log = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 1.0
# Someone who has not opened Home for this long (real seconds, whatever the bot's clock
# says) is no longer refreshed in the background.
VIEWER_MEMORY_SECONDS = 24 * 3600.0
Viewer = tuple[str, str]  # (team_id, user_id)


class HomePublisher:
    def __init__(
        self,
        service: HomeService,
        clients: SlackClients,
        background: Background,
        clock: Callable[[], datetime],
        *,
        debounce: float = DEBOUNCE_SECONDS,
    ) -> None:
        self.service = service
        self._clients = clients
        self._background = background
        self._clock = clock
        self._debounce = debounce
        self._viewers: dict[Viewer, float] = {}  # → when they last opened Home (monotonic)
        self._pages: dict[Viewer, dict[str, int]] = {}
        self._published: dict[Viewer, str] = {}
        self._pending: set[Viewer] = set()
        self.publishes = 0  # views.publish calls made (tests and benchmarks read it)

    async def publish(
        self, team_id: str, user_id: str, client: AsyncWebClient | None = None
    ) -> dict[str, Any]:
        """Render and publish now (the Home was just opened, or a button on it was used)."""
        viewer = (team_id, user_id)
        self._viewers[viewer] = time.monotonic()
        client = client or await self._clients.for_team(team_id)
        view = await self.render(team_id, user_id, client)
        await self._send(viewer, view, client, force=True)
        return view

    async def render(self, team_id: str, user_id: str, client: AsyncWebClient) -> dict[str, Any]:
        candidates = await self.service.alert_channels(team_id)
        channels = await _member_of(client, user_id, candidates)
        home = await self.service.view(team_id, user_id, self._clock(), channels)
        return render_home_tab(home, self._pages.get((team_id, user_id)))

    def show_more(self, team_id: str, user_id: str, section: str) -> None:
        if section not in FIRST_PAGE:
            return
        pages = self._pages.setdefault((team_id, user_id), dict(FIRST_PAGE))
        pages[section] += PAGE_STEP

    def touch(self, team_id: str, user_ids: Iterable[str]) -> None:
        """Something changed for these people: re-publish their Home soon, once."""
        for user_id in user_ids:
            viewer = (team_id, user_id)
            if viewer not in self._viewers or viewer in self._pending:
                continue
            self._pending.add(viewer)
            self._background.spawn(self._later(viewer), "home publish")

    async def _later(self, viewer: Viewer) -> None:
        await asyncio.sleep(self._debounce)
        self._pending.discard(viewer)
        client = await self._clients.for_team(viewer[0])
        view = await self.render(*viewer, client)
        await self._send(viewer, view, client, force=False)

    async def refresh_all(self) -> int:
        """Re-publish every known viewer whose Home changed (alerts opening or resolving,
        key results someone else gave them, a new period): called every tick."""
        published = 0
        now = time.monotonic()
        for viewer, opened in list(self._viewers.items()):
            if now - opened > VIEWER_MEMORY_SECONDS:
                del self._viewers[viewer]
                self._published.pop(viewer, None)
                self._pages.pop(viewer, None)
        for viewer in sorted(self._viewers):
            try:
                client = await self._clients.for_team(viewer[0])
                view = await self.render(*viewer, client)
                published += await self._send(viewer, view, client, force=False)
            except Exception:  # one viewer's failure must not stop the others
                log.exception("home refresh failed", extra={"team_id": viewer[0]})
        return published

    async def _send(
        self, viewer: Viewer, view: dict[str, Any], client: AsyncWebClient, *, force: bool
    ) -> int:
        digest = hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()
        if not force and self._published.get(viewer) == digest:
            return 0
        await client.views_publish(user_id=viewer[1], view=view)
        self._published[viewer] = digest
        self.publishes += 1
        return 1


async def _member_of(client: AsyncWebClient, user_id: str, channels: set[str]) -> set[str]:
    """Which of `channels` the user is in (one `conversations.members` per alert channel)."""
    mine = set()
    for channel in sorted(channels):
        try:
            response = await client.conversations_members(channel=channel, limit=1000)
        except SlackApiError:
            continue  # a channel okrbot cannot read: its alerts show to KPI owners only
        if user_id in (response.get("members") or []):
            mine.add(channel)
    return mine
