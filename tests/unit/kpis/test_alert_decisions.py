"""bot.kpis.alerting.decide: the alert state machine on the detector's verdicts (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.kpis.alerting import Decision, OpenRange, decide
from bot.kpis.detection import Evaluation
from storage.repositories.kpis import Point

T0 = datetime(2026, 11, 25, 10, tzinfo=UTC)


def verdict(
    score: float = 0.1,
    *,
    abnormal: bool = False,
    opened: bool = False,
    resolved: bool = False,
    alert_open: bool = False,
    low: float | None = 2.0,
    high: float | None = 5.0,
) -> Evaluation:
    return Evaluation(score, abnormal, low, high, opened, resolved, alert_open, False)


def points(*values: float) -> list[Point]:
    return [Point(T0 + timedelta(minutes=i), v) for i, v in enumerate(values)]


def test_nothing_open_and_nothing_abnormal_changes_nothing() -> None:
    assert decide(None, False, points(3.0), [verdict()]) == Decision()


def test_any_new_value_ends_a_no_data_alert() -> None:
    assert decide(None, True, points(3.0), [verdict()]) == Decision(resolve_no_data=True)
    opened = decide(
        None, True, points(9.0), [verdict(0.9, abnormal=True, opened=True, alert_open=True)]
    )
    assert opened.resolve_no_data and opened.open is not None


def test_opens_at_the_last_opening_with_the_worst_value_since() -> None:
    batch = points(3.0, 9.0, 3.1, 7.0, 12.0, 8.0)
    verdicts = [
        verdict(),
        verdict(0.7, abnormal=True, opened=True, alert_open=True),
        verdict(0.2, resolved=True),
        verdict(0.6, abnormal=True, opened=True, alert_open=True),
        verdict(0.95, abnormal=True, alert_open=True, low=2.5, high=5.5),
        verdict(0.8, abnormal=True, alert_open=True, low=2.4, high=5.4),
    ]
    decision = decide(None, False, batch, verdicts)
    assert decision.open is not None
    assert decision.open.opened_at == batch[3].at  # the episode still open at the end
    assert decision.open.worst_value == 12.0
    assert (decision.open.last_value, decision.open.last_at) == (8.0, batch[-1].at)
    assert (decision.open.low, decision.open.high) == (2.4, 5.4)  # the range in force now
    assert decision.update is None and decision.resolve is None


def test_an_episode_the_detector_carried_in_opens_from_the_batch_start() -> None:
    # The detector's state says an alert is open, but none is stored (e.g. the KPI had
    # no channel then): it opens at the first point of this batch.
    batch = points(8.0, 9.0)
    verdicts = [verdict(0.8, abnormal=True, alert_open=True)] * 2
    decision = decide(None, False, batch, verdicts)
    assert decision.open is not None and decision.open.opened_at == batch[0].at


def test_history_loaded_in_bulk_is_not_news() -> None:
    # An episode early in a backfilled batch, over by its live tail: nothing opens.
    batch = points(3.0, 9.0, 9.5, 3.1, 3.0, 3.2)
    verdicts = [
        verdict(),
        verdict(0.9, abnormal=True, opened=True, alert_open=True),
        verdict(0.9, abnormal=True, alert_open=True),
        verdict(alert_open=True),
        verdict(alert_open=True),
        verdict(alert_open=True),  # the detector has not confirmed the recovery yet
    ]
    assert decide(None, False, batch, verdicts, live_from=3).open is None
    # The same episode still going in the live values: it opens now, at the first live one.
    verdicts[4] = verdict(0.9, abnormal=True, alert_open=True)
    decision = decide(None, False, batch, verdicts, live_from=3)
    assert decision.open is not None and decision.open.opened_at == batch[4].at


def test_live_values_are_the_tail_of_a_batch_and_those_within_the_interval() -> None:
    from bot.kpis.ingest import live_from

    now = T0 + timedelta(minutes=100)
    batch = points(*range(100))  # one a minute up to now
    assert live_from(batch, now, None) == 97
    assert live_from(batch, now, 600) == 90  # the last ten minutes
    assert live_from(batch[:2], now, None) == 0


def test_an_open_alert_is_updated_while_the_detector_keeps_it_open() -> None:
    current = OpenRange(low=2.0, high=5.0, worst_value=9.0)
    batch = points(8.0)
    decision = decide(current, False, batch, [verdict(0.8, abnormal=True, alert_open=True)])
    assert decision.update is not None and decision.update.last_value == 8.0
    assert decision.update.worst_value is None  # 8 is not further out than 9: keep 9


def test_a_value_further_out_becomes_the_worst() -> None:
    current = OpenRange(low=2.0, high=5.0, worst_value=7.0)
    decision = decide(current, False, points(11.0), [verdict(0.9, abnormal=True, alert_open=True)])
    assert decision.update is not None and decision.update.worst_value == 11.0
    below = decide(current, False, points(-3.0), [verdict(0.9, abnormal=True, alert_open=True)])
    assert below.update is not None and below.update.worst_value == -3.0  # 5 below vs 2 above


def test_an_open_alert_resolves_when_the_detector_closes_it() -> None:
    current = OpenRange(low=2.0, high=5.0, worst_value=9.0)
    batch = points(4.0, 3.5)
    decision = decide(current, False, batch, [verdict(), verdict(resolved=True)])
    assert decision.resolve is not None
    assert (decision.resolve.last_value, decision.resolve.last_at) == (3.5, batch[1].at)
    assert decision.open is None and decision.update is None


@given(
    st.lists(
        st.tuples(
            st.floats(-1e6, 1e6), st.booleans(), st.booleans(), st.floats(0, 1, allow_nan=False)
        ),
        min_size=1,
        max_size=30,
    ),
    st.booleans(),
    st.booleans(),
)
def test_at_most_one_of_open_update_resolve(
    rows: list[tuple[float, bool, bool, float]], has_open: bool, no_data: bool
) -> None:
    batch = points(*(value for value, _, _, _ in rows))
    verdicts = [
        verdict(score, abnormal=abnormal, opened=abnormal and i == 0, alert_open=is_open)
        for i, (_, abnormal, is_open, score) in enumerate(rows)
    ]
    current = OpenRange(2.0, 5.0, None) if has_open else None
    decision = decide(current, no_data, batch, verdicts)
    chosen = [x for x in (decision.open, decision.update, decision.resolve) if x is not None]
    assert len(chosen) <= 1
    assert decision.resolve_no_data == no_data
    if has_open:
        assert decision.open is None
        assert (decision.update is not None) == verdicts[-1].alert_open
    else:
        assert decision.update is None and decision.resolve is None
        news = verdicts[-1].alert_open and any(v.abnormal for v in verdicts)
        assert (decision.open is not None) == news
