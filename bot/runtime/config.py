"""Settings: the only reader of the environment (table in SPEC)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.core.secrets import SecretKeyError, parse_keys

DEFAULT_SLACK_API_URL = "https://slack.com/api/"


class ConfigError(Exception):
    """The environment is missing or has a bad value; the text says which and how to fix it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_client_id: str | None = None
    slack_client_secret: str | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    database_url: str = "sqlite:///okrbot.db"
    port: int = Field(default=3000, ge=0, le=65535)
    host: str = "0.0.0.0"
    okrbot_timezone: str = "UTC"
    okrbot_reminder_hours: float = Field(default=24.0, gt=0, le=24 * 6)
    okrbot_digest_delay_hours: float = Field(default=0.0, ge=0, le=24 * 6)
    okrbot_alert_repeat_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    # Seconds between two edits of one alert's message (Slack allows ~50 chat.update a minute).
    okrbot_alert_edit_seconds: float = Field(default=10.0, ge=0, le=600)
    # Fernet key(s), comma-separated, newest first: Slack tokens are encrypted at rest.
    okrbot_secret_key: SecretStr | None = None
    # Days after `app_uninstalled` before a workspace's data is erased.
    okrbot_uninstall_grace_days: int = Field(default=30, ge=0, le=3650)
    # Days KPI measurements are kept (unset: forever).
    okrbot_measurement_retention_days: int | None = Field(default=None, ge=1, le=36500)
    # The workspace-wide chat.postMessage budget (Slack's ceiling; 1/s per channel on top).
    okrbot_slack_posts_per_second: float = Field(default=50.0, gt=0, le=1000)

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("xoxb-"):
            raise ValueError("must start with 'xoxb-' (the Bot User OAuth Token)")
        return value or None

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("xapp-"):
            raise ValueError("must start with 'xapp-' (an app-level token with connections:write)")
        return value or None

    @field_validator("okrbot_secret_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        try:
            parse_keys(value.get_secret_value())
        except SecretKeyError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("okrbot_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name like Europe/Madrid)"
            ) from exc
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as https://slack.com/api/")
        return value

    @property
    def uninstall_grace(self) -> timedelta:
        return timedelta(days=self.okrbot_uninstall_grace_days)

    @property
    def measurement_retention(self) -> timedelta | None:
        days = self.okrbot_measurement_retention_days
        return None if days is None else timedelta(days=days)

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def oauth_enabled(self) -> bool:
        return bool(self.slack_client_id and self.slack_client_secret)

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.okrbot_timezone)

    def missing_for_serving(self) -> list[str]:
        """What `okrbot run` still needs, as lines for a human."""
        missing: list[str] = []
        if not self.slack_bot_token and not self.oauth_enabled:
            missing.append(
                "SLACK_BOT_TOKEN (xoxb-…, from OAuth & Permissions after installing the app), "
                "or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET for installs in many workspaces"
            )
        if not self.slack_signing_secret and not self.socket_mode:
            missing.append(
                "SLACK_SIGNING_SECRET (Basic Information → App Credentials), "
                "or SLACK_APP_TOKEN (xapp-…) to use Socket Mode instead of HTTP"
            )
        if self.socket_mode and not self.slack_bot_token:
            missing.append("SLACK_BOT_TOKEN is required with Socket Mode")
        return missing


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with errors turned into one readable ConfigError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]).upper()
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"  {field}: {message}")
        raise ConfigError("invalid configuration:\n" + "\n".join(lines)) from None
