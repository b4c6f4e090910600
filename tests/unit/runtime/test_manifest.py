"""app_manifest.yml: valid against Slack's schema, and in step with what the code uses."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from bot.runtime.bolt import BOT_EVENTS, BOT_SCOPES, SHORTCUTS, SLASH_COMMANDS

ROOT = Path(__file__).resolve().parents[3]
DATA = Path(__file__).resolve().parent / "data"

# Which bot scope each Web API method okrbot calls needs (from Slack's method docs).
SCOPE_OF_METHOD = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    "conversations_open": "im:write",
    "conversations_history": "im:history",
    "conversations_info": "channels:read",
    "conversations_list": "channels:read",
    "conversations_members": "channels:read",
    "chat_getPermalink": None,
    "users_info": "users:read",
    "users_list": "users:read",
    "users_lookupByEmail": "users:read.email",
    "files_upload_v2": "files:write",
    "views_open": None,
    "views_update": None,
    "views_publish": None,
    "auth_test": None,
}
# Scopes needed for something other than one method call.
SCOPES_FOR_FEATURES = {
    "commands": "slash commands /okr and /kpi",
    "groups:read": "conversations.info/list on private channels",
    "im:history": "the message.im event",
    "chat:write.public": "digests and alerts in public channels the bot was not invited to",
}


def load_manifest() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "app_manifest.yml").read_text())


def source_text() -> str:
    files = [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/**/*.py")]
    return "\n".join(path.read_text() for path in files)


def test_manifest_matches_slack_schema() -> None:
    manifest = load_manifest()
    major = manifest.get("_metadata", {}).get("major_version", 1)
    schema = json.loads((DATA / f"manifest.schema.{major}.0.0.json").read_text())
    errors = sorted(
        jsonschema.Draft7Validator(schema).iter_errors(manifest), key=lambda e: list(e.path)
    )
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    assert (DATA / "LICENSE.manifest-schema").exists()


def test_urls_present_unless_socket_mode() -> None:
    manifest = load_manifest()
    settings = manifest["settings"]
    if not settings.get("socket_mode_enabled"):
        assert settings["event_subscriptions"]["request_url"].endswith("/slack/events")
        assert settings["interactivity"]["request_url"].endswith("/slack/events")
        for command in manifest["features"]["slash_commands"]:
            assert command["url"].endswith("/slack/events"), command
    assert settings["interactivity"]["is_enabled"] is True


def test_commands_match_code_and_are_escaped() -> None:
    commands = load_manifest()["features"]["slash_commands"]
    assert sorted(c["command"] for c in commands) == sorted(SLASH_COMMANDS)
    assert all(c["should_escape"] is True for c in commands)
    registered = set(
        re.findall(
            r'(?:app\.command\(|register_slash_command\(\s*app,\s*deps,\s*)"(/[a-z]+)"',
            source_text(),
        )
    )
    assert registered == set(SLASH_COMMANDS)


def test_shortcuts_match_code() -> None:
    shortcuts = load_manifest()["features"]["shortcuts"]
    assert {s["callback_id"]: s["type"] for s in shortcuts} == SHORTCUTS
    names = {s["callback_id"]: s["name"] for s in shortcuts}
    assert names == {
        "checkin_shortcut": "Check in on my KRs",  # Slack allows 24 characters
        "checkin_note_shortcut": "Add as check-in note",
    }
    assert all(len(s["name"]) <= 24 and len(s["description"]) <= 150 for s in shortcuts)
    registered = set(re.findall(r"app\.shortcut\((SHORTCUT_\w+)\)", source_text()))
    constants = dict(re.findall(r'^(SHORTCUT_\w+) = "(\w+)"$', source_text(), re.MULTILINE))
    assert {constants[name] for name in registered} == set(SHORTCUTS)


def test_events_match_code() -> None:
    manifest_events = set(load_manifest()["settings"]["event_subscriptions"]["bot_events"])
    assert manifest_events == set(BOT_EVENTS)
    registered = set(re.findall(r'app\.event\("([a-z_.]+)"', source_text()))
    # A `message` listener restricted to DMs is what the `message.im` subscription delivers.
    registered = {"message.im" if event == "message" else event for event in registered}
    assert registered == manifest_events


def test_scopes_are_exactly_what_the_code_needs() -> None:
    scopes = set(load_manifest()["oauth_config"]["scopes"]["bot"])
    assert scopes == set(BOT_SCOPES)
    text = source_text()
    called = set(re.findall(r"\.(\w+)\(", text)) & set(SCOPE_OF_METHOD)
    needed = {SCOPE_OF_METHOD[method] for method in called} - {None}
    needed |= set(SCOPES_FOR_FEATURES)
    assert needed <= scopes, f"missing scopes: {needed - scopes}"
    assert scopes <= needed, f"scopes nothing uses: {scopes - needed}"
