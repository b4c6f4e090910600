"""KPI anomaly detection: static bounds, learned ranges, episodes, state, properties, CSV, CLI.

The detector's behaviour on the labelled real corpus is measured by
`bench/detection.py --corpus …`; these tests pin what it promises on any stream.
"""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.cli.main import main
from bot.kpis.detection import (
    Detector,
    DetectorConfig,
    Evaluation,
    backtest,
    format_backtest_csv,
    parse_history_csv,
)
from bot.kpis.detection import detector as D
from bot.kpis.detection import robust as R

T0 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
FIVE_MIN = timedelta(minutes=5)


def times(n: int, step: timedelta = HOUR, start: datetime = T0) -> list[datetime]:
    return [start + step * i for i in range(n)]


def run(values, config=None, step=HOUR, at=None) -> list[Evaluation]:
    d = Detector(config or DetectorConfig())
    return [d.update(t, v) for t, v in zip(at or times(len(values), step), values, strict=True)]


def opened(evs: list[Evaluation]) -> list[int]:
    return [i for i, e in enumerate(evs) if e.opened]


def noise(n: int, seed: int, level: float = 100.0, sigma: float = 2.0) -> list[float]:
    rng = random.Random(seed)
    return [level + rng.gauss(0.0, sigma) for _ in range(n)]


# ------------------------------------------------------------------ static bounds
def test_static_bounds_flag_values_outside_and_need_no_history() -> None:
    evs = run([3.0, 1.2, 3.0, 6.0], DetectorConfig(min_value=2, max_value=5))
    assert [e.abnormal for e in evs] == [False, True, False, True]
    assert not any(e.learning for e in evs)
    assert evs[1].opened and evs[1].reason == "bounds"
    assert evs[1].score > 0.5 and evs[0].score == 0.0


def test_static_resolve_on_first_value_inside_the_shrunk_bounds() -> None:
    # bounds [2, 5], hysteresis 2% of the width: inner range [2.06, 4.94]
    cfg = DetectorConfig(min_value=2, max_value=5, resolve_after=1)
    evs = run([1.2, 3.3], cfg)
    assert evs[0].opened and evs[1].resolved and not evs[1].alert_open
    evs = run([1.2, 2.01, 2.03, 3.3], cfg)  # on the boundary: not yet resolved
    assert [e.resolved for e in evs] == [False, False, False, True]


def test_static_bound_resolves_with_the_default_config() -> None:
    d = Detector(DetectorConfig(min_value=2, max_value=5))
    assert d.update(T0, 1.2).opened
    resolved = [d.update(T0 + HOUR * (i + 1), 3.3).resolved for i in range(5)]
    assert any(resolved) and not d.alert_open
    assert d.normal_range() == (2, 5)


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        DetectorConfig(min_value=5, max_value=2)
    with pytest.raises(ValueError):
        DetectorConfig(min_history=0)
    with pytest.raises(ValueError):
        DetectorConfig(min_value=math.inf)
    with pytest.raises(TypeError):
        DetectorConfig(nonsense=1)
    c = DetectorConfig(consecutive=2)
    with pytest.raises(AttributeError):
        c.threshold = 1.0  # type: ignore[misc]
    assert c.replace(consecutive=1) == DetectorConfig()


def test_non_finite_measurement_is_refused() -> None:
    d = Detector()
    with pytest.raises(ValueError):
        d.update(T0, math.nan)


# ------------------------------------------------------------------ learned ranges
def test_no_alerts_while_learning() -> None:
    evs = run([1.0] * 10 + [1e6] + [1.0] * 10)
    assert all(e.learning for e in evs[:30] if True) or not any(e.opened for e in evs)
    assert not any(e.opened for e in evs)


def test_trend_161_to_120_in_one_batch_does_not_alert_nor_collapse() -> None:
    rng = random.Random(7)
    n = 35
    values = [161.0 - 41.0 * i / (n - 1) + rng.uniform(-1.5, 1.5) for i in range(n)]
    d = Detector()
    evs = [d.update(t, v) for t, v in zip(times(n, DAY), values, strict=True)]
    assert not any(e.opened for e in evs)
    lo, hi = d.normal_range()
    assert hi - lo > 3.0  # not 0.03 wide: about the noise, not the resolution
    assert lo < 120.0 - 1.2 * 1.5 and hi > 119.0  # the next value (~119) is inside


def test_level_shift_alerts_once_then_becomes_normal() -> None:
    values = noise(400, 1) + [v + 30.0 for v in noise(400, 2)]
    evs = run(values)
    opens = opened(evs)
    assert opens and all(390 <= i <= 410 for i in opens), opens
    assert len(opens) == 1
    assert not evs[-1].alert_open and evs[-1].score < 0.5
    lo, hi = evs[-1].low, evs[-1].high
    assert lo < 130.0 < hi


def test_spike_opens_one_alert_and_does_not_poison_the_baseline() -> None:
    values = noise(500, 3)
    values[300] = 160.0
    evs = run(values)
    assert opened(evs) == [300]
    assert evs[300].reason in ("value", "context")
    assert evs[-1].low < 100.0 < evs[-1].high and evs[-1].high - evs[-1].low < 60.0


def test_steady_trend_is_normal() -> None:
    rng = random.Random(11)
    values = [100.0 + 0.5 * i + rng.gauss(0, 1.0) for i in range(1000)]
    assert opened(run(values)) == []


def test_one_episode_one_alert() -> None:
    values = noise(600, 4)
    for i in range(300, 340):  # a noisy outage of 40 values
        values[i] = 30.0 + random.Random(i).uniform(-10, 10)
    evs = run(values)
    opens = opened(evs)
    assert len(opens) == 1 and 300 <= opens[0] <= 302
    assert any(e.recovering for e in evs[340:])


def test_irregular_spacing_and_gaps_do_not_alert() -> None:
    rng = random.Random(5)
    at, t = [], T0
    for i in range(1500):
        t += timedelta(minutes=rng.choice([3, 5, 5, 5, 7]))
        if i in (500, 1000):
            t += timedelta(days=2)  # gaps
        at.append(t)
    values = [
        50.0 + 10.0 * math.sin(2 * math.pi * (x - T0).total_seconds() / 86400) + rng.gauss(0, 1.0)
        for x in at
    ]
    evs = run(values, at=at)
    assert len(opened(evs)) <= 1
    values[1200] += 40.0
    assert 1200 in opened(run(values, at=at))


def test_repeated_timestamps_are_scored_but_not_learned() -> None:
    d = Detector()
    for t, v in zip(times(200), noise(200, 9), strict=True):
        d.update(t, v)
    before = json.dumps(d.state())
    e = d.update(T0 + HOUR * 199, 1000.0)  # the last timestamp again
    assert e.abnormal and not e.opened
    assert json.dumps(d.state()) == before


def daily_small_noise(days: int = 14, seed: int = 3) -> tuple[list[datetime], list[float]]:
    """art_daily_small_noise style: 5-minute data, low 20 at night, 80 by day."""
    rng = random.Random(seed)
    at = times(days * 288, FIVE_MIN)
    values = []
    for t in at:
        minute = t.hour * 60 + t.minute
        high = 8 * 60 <= minute < 20 * 60
        values.append((80.0 if high else 20.0) + rng.uniform(-5, 5) * (1.0 if high else 0.3))
    return at, values


def test_five_minute_daily_cycle_does_not_alert_after_two_days() -> None:
    at, values = daily_small_noise()
    evs = run(values, at=at)
    assert [i for i in opened(evs) if i >= 2 * 288] == []


def test_five_minute_daily_cycle_missing_peak_alerts() -> None:
    at, values = daily_small_noise()
    day = 10 * 288
    for i in range(day + 8 * 12, day + 20 * 12):  # the day time stays at night level
        values[i] = 20.0 + random.Random(i).uniform(-1.5, 1.5)
    opens = [i for i in opened(run(values, at=at)) if i >= 2 * 288]
    assert opens and day + 96 <= opens[0] <= day + 96 + 12


# ------------------------------------------------------------------ state
def _replay(d: Detector, at, values):
    return [tuple(d.update(t, v)) for t, v in zip(at, values, strict=True)]


@pytest.mark.parametrize("split", [5, 31, 400, 1500, 2900])
def test_state_round_trip_mid_stream_is_identical(split: int) -> None:
    at, values = daily_small_noise(days=12)
    values[2000] += 50.0
    one = _replay(Detector(), at, values)
    d = Detector()
    first = _replay(d, at[:split], values[:split])
    state = json.loads(json.dumps(d.state()))
    second = _replay(Detector(DetectorConfig(), state), at[split:], values[split:])
    assert first + second == one


def test_state_is_small() -> None:
    at, values = daily_small_noise(days=16)
    d = Detector()
    for t, v in zip(at, values, strict=True):
        d.update(t, v)
    assert len(json.dumps(d.state())) <= 20_000


def test_a_state_of_the_previous_detector_is_refused_so_it_can_be_rebuilt() -> None:
    old = {"v": 2, "open": False, "n": 40, "level": 100.0, "resid": [1.0] * 8}
    with pytest.raises(ValueError, match="state version"):
        Detector(DetectorConfig(), old)


def test_corrupt_state_is_refused() -> None:
    d = Detector()
    for t, v in zip(times(50), noise(50, 1), strict=True):
        d.update(t, v)
    s = d.state()
    with pytest.raises(ValueError):
        Detector(DetectorConfig(), {**s, "v": 99})
    with pytest.raises(ValueError):
        Detector(DetectorConfig(), {**s, "hist": s["hist"][:3]})
    with pytest.raises(ValueError):
        Detector(DetectorConfig(), {k: v for k, v in s.items() if k != "lv"})


def test_backtest_matches_update_and_normal_range_is_consistent() -> None:
    values = noise(300, 8)
    values[200] = 200.0
    rows = list(zip(times(300), values, strict=True))
    alerts = [r[3] for r in backtest(rows, DetectorConfig())]
    evs = run(values)
    assert alerts == [int(e.opened) for e in evs]
    d = Detector()
    for t, v in rows[:250]:
        d.update(t, v)
    lo, hi = d.normal_range()
    e = d.update(T0 + HOUR * 250, values[250])
    assert math.isclose(e.low, lo) and math.isclose(e.high, hi)


# ------------------------------------------------------------------ properties
finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.integers(min_value=0, max_value=5000), finite), max_size=250),
    st.booleans(),
)
def test_random_finite_input_never_raises_and_scores_stay_in_unit_interval(pairs, bounded):
    cfg = DetectorConfig(min_value=-1.0, max_value=1.0) if bounded else DetectorConfig()
    d = Detector(cfg)
    t = T0
    was_open = False
    for gap, v in pairs:
        t += timedelta(seconds=gap)  # gap 0: repeated timestamps
        e = d.update(t, v)
        assert 0.0 <= e.score <= 1.0 and not math.isnan(e.score)
        assert not (e.opened and was_open)
        assert e.alert_open == (was_open or e.opened) and not e.resolved or was_open
        was_open = e.alert_open
    json.dumps(d.state())


@settings(max_examples=40, deadline=None)
@given(st.lists(finite, min_size=40, max_size=120), st.integers(min_value=1, max_value=119))
def test_state_round_trip_property(values, split):
    split = min(split, len(values) - 1)
    at = times(len(values), FIVE_MIN)
    one = _replay(Detector(), at, values)
    d = Detector()
    first = _replay(d, at[:split], values[:split])
    second = _replay(
        Detector(DetectorConfig(), json.loads(json.dumps(d.state()))), at[split:], values[split:]
    )
    assert first + second == one


# ------------------------------------------------------------------ young tails
def test_young_model_catches_an_8_sigma_spike_on_a_short_seasonal_stream() -> None:
    """Few values: the empirical tail is blended with a Gaussian reference, so an
    8-sigma spike after 120 hourly points of a daily wave is caught (was ~64%)."""
    caught = 0
    for seed in range(20):
        rng = random.Random(1000 + seed)
        values = [
            100.0 + 8.0 * math.sin(2 * math.pi * i / 24) + rng.gauss(0, 1) for i in range(200)
        ]
        at = rng.randint(121, 199)
        values[at] += 8.0 * rng.choice([1, -1])
        caught += at in opened(run(values))
    assert caught >= 16, caught


def test_gaussian_noise_is_calibrated_near_the_threshold() -> None:
    """The context test uses only past values (independent of the value test), so the
    combined abnormal rate on Gaussian noise stays near 10**-threshold per value."""
    abnormal = total = 0
    for seed in range(4):
        evs = run(noise(5000, 300 + seed))
        abnormal += sum(e.abnormal for e in evs[30:])
        total += len(evs) - 30
    assert abnormal / total < 3e-4, abnormal


def test_tail_blend_weight_grows_with_history() -> None:
    d = Detector()
    ws = []
    for i, (t, v) in enumerate(zip(times(3000, FIVE_MIN), noise(3000, 21), strict=True)):
        d.update(t, v)
        if i in (100, 1000, 2999):
            ws.append(d._w_emp[d._active])
    assert ws[0] < ws[1] < ws[2] and ws[0] < 0.5 and ws[2] > 0.7


def test_precomputed_reference_grids_match_their_definition() -> None:
    for window in (0, 12):
        exact = [R.ref_u_solve(p, window) for p in R.GRID_P]
        pairs = zip(R.REF[window], exact, strict=True)
        assert all(math.isclose(a, b, rel_tol=1e-7, abs_tol=1e-9) for a, b in pairs)


# ------------------------------------------------------------------ escalation, young models
def _spike_stream(first: float, second: float, gap: int = 40, n: int = 1200) -> list[float]:
    values = noise(n, 77)
    values[1000] += first
    values[1000 + gap] += second
    return values


def test_escalation_in_the_cool_down_opens_a_new_alert() -> None:
    """In the cool-down a value whose surprise is at least twice the last episode's
    peak (p at most its square) is a new event and opens an alert; a similar one does not."""

    def late(evs):
        return [i for i in opened(evs) if i >= 990]

    assert late(run(_spike_stream(14.0, 14.0))) == [1000]  # same size: the cool-down holds
    evs = run(_spike_stream(14.0, 40.0))
    assert late(evs) == [1000, 1040]
    assert evs[1040].reason == "value" and not evs[1040].recovering
    # without escalation the cool-down blocks it
    assert late(run(_spike_stream(14.0, 40.0), DetectorConfig(escalate=0.0))) == [1000]


def test_young_model_alerts_only_outside_the_range_seen() -> None:
    """Until the daily model may be adopted (two days), a value inside the range seen
    so far does not alert: hourly data with a daily wave, first alerts allowed at 30."""
    rng = random.Random(5)
    values = [
        100.0 + 30.0 * math.sin(2 * math.pi * (i + 8) / 24) + rng.gauss(0, 1) for i in range(24 * 8)
    ]
    assert not [i for i in opened(run(values)) if i < 49]
    values[36] = 400.0  # far outside anything seen: alerts even while young
    assert 36 in opened(run(values))


def test_context_restarts_when_the_model_changes() -> None:
    d = Detector()
    switched = False
    rng = random.Random(9)
    for i in range(24 * 5):
        before = d._active
        d.update(T0 + HOUR * i, 100.0 + 30.0 * math.sin(2 * math.pi * i / 24) + rng.gauss(0, 1))
        if d._active != before:
            switched = True
            assert d._ring == [] and d._ring_sum == 0.0
    assert switched


def test_tail_is_empirical_where_it_rests_on_enough_values() -> None:
    """Down to p_c = CRED_N / values the blended tail is the empirical one; beyond it
    the increments are blended, so the table stays increasing."""
    d = Detector()
    for t, v in zip(times(400, FIVE_MIN), noise(400, 3), strict=True):
        d.update(t, v)
    k = d._active
    pc = d._p_c[k]
    assert 0.0 < pc < 1.0 and d._w_emp[k] < D.W_FULL
    for p in (0.5, 0.2, pc * 1.01):
        if p >= pc:
            assert math.isclose(d._u_at(k, p), d._emp_u(k, p), rel_tol=1e-12)
    grid = d._u_grid[k]
    assert all(b > a for a, b in zip(grid, grid[1:], strict=False))


def test_quantile_matches_a_linear_scan() -> None:
    rng = random.Random(4)
    for _ in range(200):
        h = [rng.random() ** 3 for _ in range(R.NBINS)]
        tot = sum(h)
        tail = [0.0] * (R.NBINS + 1)
        acc = 0.0
        for b in range(R.NBINS - 1, -1, -1):
            acc += h[b]
            tail[b] = acc / tot
        p = rng.random() ** 4
        ref = 10.0**R.LOG_MIN
        for b in range(R.NBINS - 1, 0, -1):
            if tail[b] >= p:
                hi = tail[b + 1]
                frac = (tail[b] - p) / (tail[b] - hi) if tail[b] > hi else 0.0
                ref = 10.0 ** (R.LOG_MIN + (b - 1 + frac) / R.BPD)
                break
        assert R.quantile(tail, p) == ref


def test_static_score_grows_with_distance() -> None:
    config = DetectorConfig(max_value=10.0)
    near, far = run([10.5, 100.0], config)
    assert 0.5 < near.score < far.score <= 1.0
    assert near.low is None and near.high == 10.0


def test_one_sided_static_bound() -> None:
    evaluations = run([5.0, -1.0, 1e9], DetectorConfig(min_value=0.0))
    assert [e.abnormal for e in evaluations] == [False, True, False]


def test_consecutive_measurements_needed_to_open() -> None:
    config = DetectorConfig(max_value=10.0, consecutive=3)
    evaluations = run([11, 11, 5, 11, 11, 11, 11], config)
    assert opened(evaluations) == [5]


def test_min_history_is_per_kpi() -> None:
    values = noise(12, seed=1) + [500.0]
    assert opened(run(values, DetectorConfig(min_history=10))) == [12]
    assert opened(run(values)) == []
    short = run(noise(11, seed=1), DetectorConfig(min_history=10))
    assert [e.learning for e in short] == [True] * 10 + [False]


def test_naive_timestamps_are_utc() -> None:
    values = noise(60, seed=14)
    aware = run(values)
    detector = Detector(DetectorConfig())
    naive = [
        detector.update(at.replace(tzinfo=None), v) for at, v in zip(times(60), values, strict=True)
    ]
    assert naive == aware


# ------------------------------------------------------------------ live rules = replay
any_finite = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False),
)
gaps = st.integers(min_value=-2, max_value=90)  # minutes; <= 0 is out of order / duplicate


@st.composite
def series(draw: st.DrawFn, max_size: int = 150) -> list[tuple[datetime, float]]:
    n = draw(st.integers(min_value=0, max_value=max_size))
    kind = draw(st.sampled_from(["random", "noisy", "seasonal"]))
    steps = draw(st.lists(gaps, min_size=n, max_size=n))
    rng = random.Random(draw(st.integers(0, 2**16)))
    rows = []
    at = T0
    for i, step in enumerate(steps):
        at = at + timedelta(minutes=step if kind == "random" else max(step, 1) * 40)
        if kind == "random":
            value = draw(any_finite)
        elif kind == "noisy":
            value = 50 + rng.gauss(0, 5) + (80 if rng.random() < 0.03 else 0)
        else:
            value = 50 + 20 * math.sin(2 * math.pi * i / 24) + rng.gauss(0, 2)
        rows.append((at, value))
    return rows


configs = st.builds(
    DetectorConfig,
    min_value=st.one_of(st.none(), st.just(0.0)),
    max_value=st.one_of(st.none(), st.just(60.0)),
    min_history=st.integers(1, 40),
    consecutive=st.integers(1, 3),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=series(), config=configs)
def test_scores_are_in_unit_interval_and_the_lifecycle_is_consistent(
    rows: list[tuple[datetime, float]], config: DetectorConfig
) -> None:
    detector = Detector(config)
    was_open = False
    for at, value in rows:
        e = detector.update(at, value)
        assert 0.0 <= e.score <= 1.0
        assert not (e.opened and e.resolved)
        if e.opened:
            assert e.alert_open and not was_open and e.abnormal and not e.learning
        if e.resolved:
            assert was_open and not e.alert_open
        if not e.opened and not e.resolved:
            assert e.alert_open == was_open
        if e.learning:
            assert e.score == 0.0 and not e.abnormal
        if e.low is not None and e.high is not None:
            assert e.low <= e.high
        was_open = e.alert_open


@settings(max_examples=30, deadline=None)
@given(rows=series(), config=configs)
def test_backtest_runs_the_live_rules(
    rows: list[tuple[datetime, float]], config: DetectorConfig
) -> None:
    detector = Detector(config)
    live = [detector.update(at, v) for at, v in rows]
    replay = list(backtest(rows, config))
    assert [(at, v) for at, v, _, _ in replay] == rows
    assert [score for _, _, score, _ in replay] == [e.score for e in live]
    assert [alert for *_, alert in replay] == [int(e.opened) for e in live]


# -------------------------------------------------------------------------- CSV


def test_parse_history_csv_accepts_iso_and_plain_times() -> None:
    text = (
        "\ufefftimestamp,value\n"
        "2026-11-25T10:00:00Z,3.4\n"
        "\n"
        "2026-11-25 11:00:00,4\n"
        '"2026-11-25T12:00:00+02:00", -1.5e2 \n'
        "2026-11-25T13:00:00.250000,0\n"
    )
    rows = parse_history_csv(text)
    assert rows == [
        (datetime(2026, 11, 25, 10, tzinfo=UTC), 3.4),
        (datetime(2026, 11, 25, 11, tzinfo=UTC), 4.0),
        (datetime(2026, 11, 25, 12, tzinfo=timezone(timedelta(hours=2))), -150.0),
        (datetime(2026, 11, 25, 13, 0, 0, 250000, tzinfo=UTC), 0.0),
    ]
    assert parse_history_csv(text.splitlines()) == rows
    assert parse_history_csv("timestamp,value\n") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "line 1: expected the header"),
        ("time,value\n2026-01-01,1\n", "line 1: expected the header"),
        ("timestamp,value\n2026-01-01T00:00:00Z,1\nyesterday,2\n", "line 3: 'yesterday'"),
        ("timestamp,value\n2026-01-01T00:00:00Z,abc\n", "line 2: 'abc' is not a number"),
        ("timestamp,value\n2026-01-01T00:00:00Z,nan\n", "line 2: 'nan' is not a finite"),
        ("timestamp,value\n2026-01-01T00:00:00Z,inf\n", "line 2: 'inf' is not a finite"),
        ("timestamp,value\n2026-01-01T00:00:00Z,1,2\n", "line 2: expected 2 fields"),
        ("timestamp,value\n\n2026-01-01T00:00:00Z\n", "line 3: expected 2 fields"),
    ],
)
def test_parse_history_csv_names_the_bad_line(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_history_csv(text)


def test_format_backtest_csv() -> None:
    plus2 = timezone(timedelta(hours=2))
    rows = [
        (datetime(2026, 11, 25, 10, tzinfo=UTC), 3.4, 0.123456, 0),
        (datetime(2026, 11, 25, 9, tzinfo=plus2), 100.0, 1.0, 1),
    ]
    assert format_backtest_csv(rows) == (
        "timestamp,value,score,alert\n"
        "2026-11-25T10:00:00+00:00,3.4,0.1235,0\n"
        "2026-11-25T09:00:00+02:00,100.0,1.0000,1\n"
    )
    assert format_backtest_csv([]) == "timestamp,value,score,alert\n"


# -------------------------------------------------------------------------- CLI


def write_history(path: Path, values: list[float]) -> Path:
    lines = ["timestamp,value"] + [
        f"{at:%Y-%m-%d %H:%M:%S},{v}" for at, v in zip(times(len(values)), values, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_cli_backtest_prints_only_the_csv(tmp_path: Path) -> None:
    values = noise(100, seed=16)
    values[70] = 150.0
    path = write_history(tmp_path / "history.csv", values)
    result = CliRunner().invoke(main, ["kpi", "backtest", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "timestamp,value,score,alert"
    assert len(lines) == 101
    alerts = [i for i, line in enumerate(lines[1:]) if line.endswith(",1")]
    assert alerts == [70]
    assert lines[1].startswith("2026-01-05T00:00:00+00:00,")
    assert "alert" in result.stderr
    assert result.stdout == format_backtest_csv(
        backtest(parse_history_csv(path.read_text()), DetectorConfig())
    )


def test_cli_backtest_with_static_bounds_and_options(tmp_path: Path) -> None:
    values = [3.0, 1.0, 1.0, 3.0, 3.0] + [3.0] * 5 + [9.0, 9.0]
    path = write_history(tmp_path / "h.csv", values)
    result = CliRunner().invoke(main, ["kpi", "backtest", str(path), "--min", "2", "--max", "5"])
    assert result.exit_code == 0
    assert [line[-1] for line in result.stdout.splitlines()[1:]] == list("010000000010")
    result = CliRunner().invoke(
        main, ["kpi", "backtest", str(path), "--max", "5", "--consecutive", "2"]
    )
    assert [line[-1] for line in result.stdout.splitlines()[1:]] == list("000000000001")
    result = CliRunner().invoke(main, ["kpi", "backtest", str(path), "--min-history", "3"])
    assert result.exit_code == 0


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("timestamp,value\n2026-01-01T00:00:00Z,x\n", [], "line 2: 'x' is not a number"),
        ("when,what\n", [], "line 1: expected the header"),
        ("timestamp,value\n", ["--min", "5", "--max", "1"], "min must not be above max"),
        (b"\xff\xfe\x00garbage", [], "cannot read"),
    ],
)
def test_cli_backtest_bad_input_is_one_line(
    tmp_path: Path, content: str | bytes, args: list[str], message: str
) -> None:
    path = tmp_path / "bad.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(main, ["kpi", "backtest", str(path), *args])
    assert result.exit_code != 0
    assert result.stdout == ""
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_cli_backtest_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["kpi", "backtest", str(tmp_path / "nope.csv")])
    assert result.exit_code != 0
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_cli_kpi_help() -> None:
    result = CliRunner().invoke(main, ["kpi", "--help"])
    assert result.exit_code == 0
    assert "backtest" in result.output
