"""Who and where: resolving mentions and admin rights, as the domain sees it.

The domain asks a `Directory`; `SlackDirectory` answers from Slack's Web API
(`users.info`, `users.list`, `users.lookupByEmail`, `conversations.info`,
`conversations.list`) with
a cache in the database, so a busy workspace does not hit Slack's rate tiers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.errors import UserError
from bot.core.grammar import ChannelRef, UserRef
from storage.db import Database
from storage.repositories.workspaces import Member

log = logging.getLogger(__name__)

USER_CACHE_TTL = timedelta(hours=6)


@dataclass(frozen=True)
class UserInfo:
    user_id: str
    name: str | None
    tz: str | None
    is_admin: bool


class Directory(Protocol):
    async def resolve_user(self, team_id: str, ref: UserRef) -> str: ...

    async def resolve_channel(self, team_id: str, ref: ChannelRef) -> str: ...

    async def user(self, team_id: str, user_id: str, now: datetime) -> UserInfo: ...

    async def members(self, team_id: str) -> list[Member]: ...

    async def in_channel(self, team_id: str, channel_id: str, user_id: str) -> bool: ...


ClientFor = Callable[[str], Awaitable[AsyncWebClient]]


class SlackDirectory:
    """A `Directory` backed by the Web API client of each workspace."""

    def __init__(self, db: Database, client_for: ClientFor) -> None:
        self._db = db
        self._client_for = client_for

    async def user(self, team_id: str, user_id: str, now: datetime) -> UserInfo:
        """Profile facts we need (tz, admin), from the cache when fresh, else `users.info`."""
        async with self._db.team(team_id) as store:
            cached = await store.workspace.cached_user(user_id)
            if cached is not None and now - cached.fetched_at < USER_CACHE_TTL:
                return UserInfo(user_id, cached.name, cached.tz, cached.is_admin)
        client = await self._client_for(team_id)
        try:
            response = await client.users_info(user=user_id)
        except SlackApiError as exc:
            if exc.response.get("error") == "user_not_found":
                raise UserError(f"<@{user_id}> is not a user of this workspace") from None
            raise
        info = _user_info(response["user"])
        async with self._db.team(team_id) as store:
            await store.workspace.ensure(now)
            await store.workspace.cache_user(
                Member(user_id, info.name, info.tz, info.is_admin), now
            )
        return info

    async def members(self, team_id: str) -> list[Member]:
        """Every active person of the workspace (`users.list`, all pages; no bots)."""
        client = await self._client_for(team_id)
        members: list[Member] = []
        async for page in await client.users_list(limit=200):
            for user in page.get("members", []):
                if not user.get("deleted") and not user.get("is_bot"):
                    members.append(member_from(user))
        return members

    async def in_channel(self, team_id: str, channel_id: str, user_id: str) -> bool:
        """Whether the user is a member of the channel (`conversations.members`, paged
        until found); a channel okrbot cannot read has no members it can vouch for."""
        client = await self._client_for(team_id)
        try:
            async for page in await client.conversations_members(channel=channel_id, limit=1000):
                if user_id in page.get("members", []):
                    return True
        except SlackApiError as exc:
            log.warning(
                "cannot list channel members",
                extra={
                    "team_id": team_id,
                    "channel": channel_id,
                    "error": exc.response.get("error"),
                },
            )
        return False

    async def resolve_user(self, team_id: str, ref: UserRef) -> str:
        client = await self._client_for(team_id)
        if ref.user_id is not None:
            try:
                response = await client.users_info(user=ref.user_id)
            except SlackApiError as exc:
                if exc.response.get("error") == "user_not_found":
                    raise UserError(f"{ref.label()} is not a user of this workspace") from None
                raise
            if response["user"].get("deleted"):
                raise UserError(f"{ref.label()} has been deactivated")
            return ref.user_id
        wanted = (ref.name or "").lower()
        async for page in await client.users_list(limit=200):
            for member in page.get("members", []):
                if member.get("deleted"):
                    continue
                profile = member.get("profile", {})
                names = {
                    str(member.get("name", "")).lower(),
                    str(profile.get("display_name", "")).lower(),
                    str(profile.get("display_name_normalized", "")).lower(),
                }
                if wanted in names:
                    return str(member["id"])
        raise UserError(f"there is no user called {ref.label()} in this workspace")

    async def resolve_channel(self, team_id: str, ref: ChannelRef) -> str:
        client = await self._client_for(team_id)
        if ref.channel_id is not None:
            try:
                await client.conversations_info(channel=ref.channel_id)
            except SlackApiError as exc:
                if exc.response.get("error") == "channel_not_found":
                    raise UserError(f"{ref.label()} is not a channel okrbot can see") from None
                raise
            return ref.channel_id
        wanted = (ref.name or "").lower()
        async for page in await client.conversations_list(
            limit=200, types="public_channel,private_channel", exclude_archived=True
        ):
            for channel in page.get("channels", []):
                if str(channel.get("name", "")).lower() == wanted:
                    return str(channel["id"])
        raise UserError(f"there is no channel called {ref.label()} that okrbot can see")

    # Whole-workspace lookups for `okrbot import`: one paged pass each, however many
    # names a file uses, instead of one `users.list` walk per name.

    async def user_ids_by_name(self, team_id: str) -> dict[str, set[str]]:
        """Every active person by name (lowercase) → ids. The handle (unique in Slack)
        wins over display names, and those over real names, so `@ana` is the person
        whose handle is ana even when someone else displays as Ana."""
        client = await self._client_for(team_id)
        tiers: tuple[dict[str, set[str]], ...] = ({}, {}, {})
        async for page in await client.users_list(limit=200):
            for member in page.get("members", []):
                if member.get("deleted") or member.get("is_bot"):
                    continue
                profile = member.get("profile", {})
                names = (
                    (member.get("name"),),
                    (profile.get("display_name"), profile.get("display_name_normalized")),
                    (member.get("real_name"), profile.get("real_name")),
                )
                for tier, written in zip(tiers, names, strict=True):
                    for name in written:
                        if name:
                            tier.setdefault(str(name).lower(), set()).add(str(member["id"]))
        found: dict[str, set[str]] = {}
        for tier in reversed(tiers):
            found.update(tier)
        return found

    async def user_id_by_email(self, team_id: str, email: str) -> str | None:
        """`users.lookupByEmail` (scope users:read.email); None when nobody has it."""
        client = await self._client_for(team_id)
        try:
            response = await client.users_lookupByEmail(email=email)
        except SlackApiError as exc:
            if exc.response.get("error") == "users_not_found":
                return None
            raise
        user = response["user"]
        return None if user.get("deleted") else str(user["id"])

    async def channel_ids_by_name(self, team_id: str) -> dict[str, str]:
        """Channels okrbot can see (public, and private ones it is in), name → id."""
        client = await self._client_for(team_id)
        found: dict[str, str] = {}
        async for page in await client.conversations_list(
            limit=200, types="public_channel,private_channel", exclude_archived=True
        ):
            for channel in page.get("channels", []):
                found[str(channel.get("name", "")).lower()] = str(channel["id"])
        return found


# Names not yet cached are asked of Slack, at most this many per view.
MAX_NAME_LOOKUPS = 25


async def fill_names(
    directory: Directory,
    team_id: str,
    people: Iterable[str],
    cached: dict[str, str],
    now: datetime,
) -> dict[str, str]:
    """`cached` display names plus those Slack tells us for the others (`users.info`,
    then cached): views posted in channels name people in plain text and never mention
    them, which would ping. Someone Slack cannot name stays unnamed (shown by id)."""
    names = dict(cached)
    for user_id in sorted(set(people) - names.keys())[:MAX_NAME_LOOKUPS]:
        try:
            info = await directory.user(team_id, user_id, now)
        except (UserError, SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.info("no name for a user", extra={"team_id": team_id, "error": repr(exc)})
            continue
        if info.name:
            names[user_id] = info.name
    return names


def _user_info(user: dict[str, Any]) -> UserInfo:
    member = member_from(user)
    return UserInfo(member.user_id, member.name, member.tz, member.is_admin)


def member_from(user: dict[str, Any]) -> Member:
    """The facts okrbot keeps of a person, from `users.info` or `users.list`."""
    profile = user.get("profile", {})
    name = profile.get("display_name") or user.get("real_name") or user.get("name")
    is_admin = bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
    return Member(str(user["id"]), name, user.get("tz"), is_admin)
