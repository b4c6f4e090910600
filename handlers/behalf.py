"""What the check-in listeners share about checking in on someone's behalf."""

from __future__ import annotations

from collections.abc import Iterable

from slack_sdk.web.async_client import AsyncWebClient

from bot.checkins.dm import Entry
from handlers.deps import Deps
from storage.models import KeyResult


async def refresh_prompts_of(
    deps: Deps, client: AsyncWebClient, team_id: str, owners: Iterable[str]
) -> None:
    """After a check-in on someone's behalf, their own prompt shows what was recorded."""
    for owner in sorted(set(owners)):
        prompt = await deps.cycle.open_prompt(team_id, owner, deps.clock())
        if prompt is not None:
            await deps.cycle.refresh_prompt(client, team_id, owner, prompt.id)


async def refresh_owners_prompts(
    deps: Deps,
    client: AsyncWebClient,
    team_id: str,
    user_id: str,
    pairs: list[tuple[Entry, KeyResult]],
) -> None:
    """The same, for the owners of the key results a form was saved for."""
    await refresh_prompts_of(
        deps, client, team_id, {kr.owner_id for _, kr in pairs if kr.owner_id != user_id}
    )
