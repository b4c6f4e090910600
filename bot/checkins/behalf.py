"""Checking in on someone's behalf: who may enter a check-in for a key result.

Its owner always may. So may the owner of its objective (who often hears the number
first, in the weekly meeting) and a workspace admin, so a number is not lost while
its owner is out. The check-in then says for whom it is (`author_id`, the key
result's owner) and who typed it (`entered_by`).
"""

from __future__ import annotations

from datetime import datetime

from bot.core.errors import Forbidden
from bot.slack.directory import Directory
from storage.db import Database
from storage.models import KeyResult


def refusal(key_result: KeyResult) -> Forbidden:
    return Forbidden(
        f"KR-{key_result.number} belongs to <@{key_result.owner_id}>: only its owner, "
        "the owner of its objective or a workspace admin checks in on it"
    )


class Entrants:
    """Decides, before any write, whether a person may check in on key results."""

    def __init__(self, db: Database, directory: Directory | None) -> None:
        self._db = db
        self._directory = directory

    async def allowed(
        self, team_id: str, user_id: str, key_results: list[KeyResult], now: datetime | None
    ) -> set[int]:
        """Ids of the key results this person may check in on (Slack is asked about
        admin rights only when someone else's key result is not in their objective)."""
        mine = {kr.id for kr in key_results if kr.owner_id == user_id}
        others = [kr for kr in key_results if kr.id not in mine]
        if not others:
            return mine
        async with self._db.team(team_id) as store:
            owners = await store.habits.objective_owners(kr.objective_id for kr in others)
        mine |= {kr.id for kr in others if owners.get(kr.objective_id) == user_id}
        if len(mine) == len(key_results) or self._directory is None or now is None:
            return mine
        if (await self._directory.user(team_id, user_id, now)).is_admin:
            return {kr.id for kr in key_results}
        return mine

    async def require(
        self, team_id: str, user_id: str, key_results: list[KeyResult], now: datetime | None
    ) -> None:
        allowed = await self.allowed(team_id, user_id, key_results, now)
        for kr in key_results:
            if kr.id not in allowed:
                raise refusal(kr)
