"""What a KPI's chart shows (its recent values with the range each was judged by), for
the alert card and `/kpi show` alike; drawing it is `bot.blocks.charts`."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks.charts import ChartPoint, KpiChart
from bot.core.schedule import zone_named
from storage.models import Kpi
from storage.repositories import TeamStore

log = logging.getLogger(__name__)

CHART_POINTS = 120


async def chart_for(
    store: TeamStore,
    kpi: Kpi,
    fallback_zone: ZoneInfo,
    episode_from: datetime | None = None,
    zones: dict[str, str | None] | None = None,
) -> KpiChart:
    """The chart's data, in the KPI owner's time zone (else the workspace's)."""
    if zones is None:
        zones = await store.workspace.zones()
    every = kpi.expected_interval_seconds
    return KpiChart(
        title=f"{kpi.name} ({kpi.key})",
        unit=kpi.unit,
        zone=zone_named(zones.get(kpi.owner_id or ""), fallback_zone),
        points=[
            ChartPoint(p.at, p.value, p.low, p.high)
            for p in await store.kpis.recent_points(kpi.id, CHART_POINTS)
        ],
        expected_interval=timedelta(seconds=every) if every else None,
        episode_from=episode_from,
    )


async def upload_chart(client: AsyncWebClient, chart: KpiChart) -> str | None:
    """Upload the chart (shared nowhere yet) for an image block; None if Slack refused."""
    from bot.blocks.charts import kpi_chart  # matplotlib loads slowly: only when charting

    try:
        uploaded = await client.files_upload_v2(
            content=kpi_chart(chart), filename="chart.png", title=chart.title
        )
    except SlackApiError as exc:  # a chart is worth showing, not worth failing for
        log.warning("chart upload failed", extra={"error": exc.response.get("error")})
        return None
    return str((uploaded.get("file") or {}).get("id") or "") or None
