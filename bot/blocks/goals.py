"""Block Kit for KPIs that deserve a goal: the digest's candidate improvement goals and
the prefilled "new key result that follows this KPI" modal (pure: data in, blocks out)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.blocks.common import Block, clip, escape, section, value_with_unit
from bot.core.kpi_health import ImprovementCandidate

ACTION_KPI_GOAL = "kpi_goal_open"
KPI_GOAL_CALLBACK = "kpi_goal_submit"
MAX_OBJECTIVE_OPTIONS = 100  # Slack's limit for a static select
MAX_TITLE = 200


@dataclass(frozen=True)
class KpiGoalDraft:
    """What the modal is prefilled with: the KPI, where it stands, who and where."""

    kpi_key: str
    kpi_name: str
    unit: str | None
    latest: float | None
    owner_id: str
    objectives: list[tuple[int, str]]  # (number, title), the channel's first
    channel_id: str | None = None


def _text(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def candidate_blocks(candidates: list[ImprovementCandidate]) -> list[Block]:
    """One section per KPI, each with the button that turns it into a key result."""
    blocks: list[Block] = []
    for candidate in candidates:
        share = round(candidate.abnormal_share * 100)
        blocks.append(
            {
                **section(
                    f":bulb: *Candidate improvement goal:* `{escape(candidate.key)}` "
                    f"({escape(candidate.name)}) was outside its normal range {share}% of "
                    "the last four weeks."
                ),
                "accessory": {
                    "type": "button",
                    "action_id": ACTION_KPI_GOAL,
                    "text": _text("Add a key result"),
                    "value": candidate.key,
                },
            }
        )
    return blocks


def suggested_title(kpi_name: str) -> str:
    return f"Keep {kpi_name} in its normal range"[:MAX_TITLE]


def kpi_goal_modal(draft: KpiGoalDraft) -> dict[str, Any]:
    """The new key result, prefilled: it follows the KPI and starts at its latest value."""
    options = [
        {"text": _text(clip(f"O-{number} {title}", 75)), "value": str(number)}
        for number, title in draft.objectives[:MAX_OBJECTIVE_OPTIONS]
    ]
    starts = (
        f"It starts at the latest value, {value_with_unit(draft.latest, draft.unit)}."
        if draft.latest is not None
        else "The KPI has no measurement yet."
    )
    return {
        "type": "modal",
        "callback_id": KPI_GOAL_CALLBACK,
        "title": _text("New key result"),
        "submit": _text("Add"),
        "close": _text("Cancel"),
        "private_metadata": json.dumps({"kpi": draft.kpi_key, "channel": draft.channel_id}),
        "blocks": [
            section(
                f"Follows KPI `{escape(draft.kpi_key)}` ({escape(draft.kpi_name)}): every new "
                f"measurement updates it. {starts}"
            ),
            {
                "type": "input",
                "block_id": "objective",
                "label": _text("Objective"),
                "element": {
                    "type": "static_select",
                    "action_id": "objective",
                    "options": options,
                    "initial_option": options[0],
                },
            },
            {
                "type": "input",
                "block_id": "title",
                "label": _text("Key result"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "title",
                    "initial_value": suggested_title(draft.kpi_name),
                    "max_length": MAX_TITLE,
                },
            },
            {
                "type": "input",
                "block_id": "target",
                "label": _text("Target" + (f" ({draft.unit})" if draft.unit else "")),
                "hint": _text("The value that means done."),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "target",
                    "placeholder": _text("e.g. 250"),
                },
            },
            {
                "type": "input",
                "block_id": "owner",
                "label": _text("Owner"),
                "element": {
                    "type": "users_select",
                    "action_id": "owner",
                    "initial_user": draft.owner_id,
                },
            },
        ],
    }
