"""People and channels a YAML file names: ids as written, or `@name`, email, `#name`.

Names are looked up through Slack once per file, before the import's transaction
(Slack calls never hold a database transaction open): one `users.list` pass for
every `@name`, one `users.lookupByEmail` per distinct email, one
`conversations.list` pass for every `#name`. Each name that finds nobody, or
several people, is a problem at its own line and field.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from slack_sdk.errors import SlackApiError

from bot.core.errors import UserError
from bot.slack.clients import NoInstallation
from bot.transfer.problems import FieldError

USER_ID = "user"  # text is a U…/W… id
USER_NAME = "user_name"  # text is a handle, display name or real name, without `@`
EMAIL = "email"
CHANNEL_ID = "channel"  # text is a C…/G… id
CHANNEL_NAME = "channel_name"  # text is a channel name, without `#`


@dataclass(frozen=True)
class Handle:
    """A person or channel as the file writes it; equal handles resolve once."""

    kind: str
    text: str
    line: int = field(default=0, compare=False)
    path: str = field(default="", compare=False)

    @property
    def is_id(self) -> bool:
        return self.kind in (USER_ID, CHANNEL_ID)

    def label(self) -> str:
        if self.kind == USER_NAME:
            return f"@{self.text}"
        if self.kind == CHANNEL_NAME:
            return f"#{self.text}"
        return self.text


class PeopleFinder(Protocol):
    """What an import needs of Slack's directory (`SlackDirectory` provides it)."""

    async def user_ids_by_name(self, team_id: str) -> dict[str, set[str]]: ...

    async def user_id_by_email(self, team_id: str, email: str) -> str | None: ...

    async def channel_ids_by_name(self, team_id: str) -> dict[str, str]: ...


def _problem(handle: Handle, message: str) -> UserError:
    return FieldError(handle.line, f"`{handle.path}` {message}")


async def resolve_handles(
    finder: PeopleFinder | None, team_id: str, handles: Iterable[Handle]
) -> tuple[dict[Handle, str], list[UserError]]:
    """Each handle's Slack id, and a problem for each one that names nobody (or several).

    Ids resolve to themselves without a call, so a file of ids imports offline.
    """
    resolved: dict[Handle, str] = {}
    problems: list[UserError] = []
    pending: list[Handle] = []
    for handle in handles:
        if handle.is_id:
            resolved[handle] = handle.text
        else:
            pending.append(handle)
    if not pending:
        return resolved, problems
    if finder is None:
        problems.extend(_problem(h, f"{h.label()} needs Slack to look up") for h in pending)
        return resolved, problems
    try:
        names = (
            await finder.user_ids_by_name(team_id)
            if any(h.kind == USER_NAME for h in pending)
            else {}
        )
        channels = (
            await finder.channel_ids_by_name(team_id)
            if any(h.kind == CHANNEL_NAME for h in pending)
            else {}
        )
        emails: dict[str, str | None] = {}
        for handle in pending:
            if handle.kind == EMAIL and handle.text.lower() not in emails:
                found = await finder.user_id_by_email(team_id, handle.text)
                emails[handle.text.lower()] = found
    except NoInstallation:
        problems.extend(
            _problem(
                h,
                f"{h.label()} cannot be looked up: okrbot has no Slack token for {team_id} "
                "(set SLACK_BOT_TOKEN, or write the Slack id instead)",
            )
            for h in pending
        )
        return resolved, problems
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else None
        problems.extend(
            _problem(h, f"{h.label()} cannot be looked up: Slack said {error or exc}")
            for h in pending
        )
        return resolved, problems
    for handle in pending:
        if handle.kind == USER_NAME:
            ids = names.get(handle.text.lower(), set())
            if len(ids) == 1:
                resolved[handle] = next(iter(ids))
            elif ids:
                several = ", ".join(sorted(ids))
                problems.append(
                    _problem(
                        handle,
                        f"{handle.label()} matches several Slack users ({several}): "
                        "write the user id instead",
                    )
                )
            else:
                problems.append(
                    _problem(handle, f"{handle.label()} is not a user of this Slack workspace")
                )
        elif handle.kind == EMAIL:
            user_id = emails.get(handle.text.lower())
            if user_id is None:
                problems.append(
                    _problem(handle, f"no user of this Slack workspace has the email {handle.text}")
                )
            else:
                resolved[handle] = user_id
        elif handle.kind == CHANNEL_NAME:
            channel_id = channels.get(handle.text.lower())
            if channel_id is None:
                problems.append(
                    _problem(
                        handle,
                        f"{handle.label()} is not a channel okrbot can see "
                        "(for a private channel, invite okrbot first)",
                    )
                )
            else:
                resolved[handle] = channel_id
    return resolved, problems
