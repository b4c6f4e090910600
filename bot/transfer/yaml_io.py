"""`okrbot import` / `okrbot export`: the YAML in SPEC, validated whole before any write.

Import is idempotent (objectives match by `key`, else by title; key results by
title within their objective; KPIs by key) and transactional: the first bad
field aborts with its line number and nothing is stored.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import yaml

from bot.core.errors import UserError
from bot.core.grammar import parse_cycle
from bot.core.progress import current_cycle
from bot.core.schedule import WEEKDAYS
from bot.core.times import format_duration
from bot.kpis.commands import KPI_KEY, parse_duration
from bot.kpis.rules import DEFAULTS
from bot.kpis.service import change_kpi, new_kpi
from bot.okrs.commands import Target, parse_local_time, parse_weekday
from bot.okrs.service import new_key_result, new_objective, would_loop
from storage.db import Database
from storage.models import KeyResult, Kpi, Objective
from storage.repositories import TeamStore

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")


# Parsing with line numbers ---------------------------------------------------


@dataclass
class Node:
    """A YAML value with the line it came from, so errors can point at it."""

    value: Any
    line: int
    path: str
    written: str = ""  # a scalar's text as written in the file


# A document okrbot writes has a few levels, and fewer values than characters; aliases
# can make a short file expand exponentially ("billion laughs"), so both are capped.
MAX_DEPTH = 32


@dataclass
class _Budget:
    limit: int
    values: int = 0


def _to_nodes(
    node: yaml.Node, path: str, loader: yaml.SafeLoader, budget: _Budget, depth: int = 0
) -> Node:
    line = node.start_mark.line + 1
    budget.values += 1
    if budget.values > budget.limit:
        raise UserError(
            f"line {line}: aliases expand to more values than the file could hold "
            f"({budget.limit:,}); write the values out instead"
        )
    if depth > MAX_DEPTH:
        raise UserError(f"line {line}: nested more than {MAX_DEPTH} levels deep")
    if isinstance(node, yaml.MappingNode):
        mapping: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in mapping:
                raise UserError(f"line {key_node.start_mark.line + 1}: `{path}{key}` given twice")
            mapping[key] = _to_nodes(value_node, f"{path}{key}.", loader, budget, depth + 1)
        return Node(mapping, line, path.rstrip("."))
    if isinstance(node, yaml.SequenceNode):
        base = path.rstrip(".")
        items = [
            _to_nodes(item, f"{base}[{i}].", loader, budget, depth + 1)
            for i, item in enumerate(node.value)
        ]
        return Node(items, line, base)
    try:
        value = loader.construct_object(node)  # type: ignore[no-untyped-call]
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        raise UserError(f"line {line}: `{path.rstrip('.')}` cannot be read ({problem})") from None
    return Node(value, line, path.rstrip("."), str(node.value))


def _error(node: Node, message: str) -> UserError:
    return UserError(f"line {node.line}: `{node.path}` {message}")


def _check_depth(text: str) -> None:
    """Refuse deep nesting before composing: PyYAML's composer recurses once per level,
    while its event parser (used here) does not."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else 1
                raise UserError(f"line {line}: nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def load_document(text: str, source: str = "YAML") -> Node:
    """Parse YAML into located nodes; syntax errors name their line."""
    try:
        _check_depth(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise UserError(f"{source}: {where}not valid YAML ({problem})") from None
    except RecursionError:  # PyYAML's parser recurses once per nesting level
        raise UserError(f"{source}: nested more than {MAX_DEPTH} levels deep") from None
    if root is None:
        return Node({}, 1, "")
    document = _to_nodes(root, "", yaml.SafeLoader(""), _Budget(limit=len(text) + 1000))
    if not isinstance(document.value, dict):
        raise UserError(f"{source}: the file must be a mapping with objectives, kpis, schedule")
    return document


# Validation into plain specs -------------------------------------------------


@dataclass
class KeyResultSpec:
    title: str
    kind: str
    owner_id: str | None
    start: float | None = None
    target: float | None = None
    low: float | None = None
    high: float | None = None
    unit: str | None = None
    follows: str | None = None
    follows_node: Node | None = None


@dataclass
class ObjectiveSpec:
    title: str
    owner_id: str
    key: str | None = None
    channel_id: str | None = None
    cycle: str | None = None
    status: str = "active"
    parent: str | None = None
    parent_node: Node | None = None
    key_results: list[KeyResultSpec] = field(default_factory=list)


@dataclass
class KpiSpec:
    key: str
    name: str
    unit: str | None = None
    channel_id: str | None = None
    min_value: float | None = None
    max_value: float | None = None
    expected_interval_seconds: int | None = None
    consecutive: int = DEFAULTS.consecutive
    min_history: int = DEFAULTS.min_history


@dataclass
class DocumentSpec:
    schedule: tuple[int, str] | None
    objectives: list[ObjectiveSpec]
    kpis: list[KpiSpec]


def _fields(
    node: Node, allowed: set[str], required: frozenset[str] | set[str] = frozenset()
) -> dict[str, Node]:
    if not isinstance(node.value, dict):
        raise _error(node, "must be a mapping")
    unknown = sorted(set(node.value) - allowed)
    if unknown:
        bad = node.value[unknown[0]]
        raise _error(bad, f"is not a known field (expected one of: {', '.join(sorted(allowed))})")
    for name in sorted(required):
        if name not in node.value:
            raise UserError(f"line {node.line}: `{node.path or 'item'}` is missing `{name}`")
    return dict(node.value)


def _text(node: Node, limit: int = 200) -> str:
    if not isinstance(node.value, str | int | float) or isinstance(node.value, bool):
        raise _error(node, "must be text")
    text = str(node.value).strip()
    if not text:
        raise _error(node, "must not be empty")
    if len(text) > limit:
        raise _error(node, f"is too long (at most {limit} characters)")
    return text


_EXPONENT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def _number(node: Node) -> float:
    value = node.value
    if isinstance(value, str) and _EXPONENT.match(value.strip()):
        value = float(value)  # YAML 1.1 reads `1e3` (no dot) as text
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _error(node, f"must be a number, not {value!r}")
    if not math.isfinite(float(value)):
        raise _error(node, "must be a finite number")
    return float(value)


def _id(node: Node, pattern: re.Pattern[str], what: str) -> str:
    text = _text(node, 32)
    if not pattern.match(text):
        raise _error(
            node, f"must be a Slack {what} id like {'U0123ABCD' if what == 'user' else 'C0123ABCD'}"
        )
    return text


def validate(document: Node) -> DocumentSpec:
    top = _fields(document, {"schedule", "objectives", "kpis"})
    schedule = _schedule(top["schedule"]) if "schedule" in top else None
    objective_nodes = _list(top["objectives"]) if "objectives" in top else []
    objectives = [_objective(item) for item in objective_nodes]
    kpi_nodes = _list(top["kpis"]) if "kpis" in top else []
    kpis = [_kpi(item) for item in kpi_nodes]
    pairs = list(zip(objectives, objective_nodes, strict=True))
    _no_duplicates([(o.key, n.value["key"]) for o, n in pairs if o.key], "objective key")
    _no_duplicates([(o.title, n.value["title"]) for o, n in pairs if not o.key], "objective title")
    _no_duplicates(
        [(k.key, n.value["key"]) for k, n in zip(kpis, kpi_nodes, strict=True)], "KPI key"
    )
    return DocumentSpec(schedule, objectives, kpis)


def _list(node: Node) -> list[Node]:
    if not isinstance(node.value, list):
        raise _error(node, "must be a list")
    return list(node.value)


def _no_duplicates(handles: list[tuple[str, Node]], what: str) -> None:
    """Each handle once; a repeat is reported at its own line."""
    first_line: dict[str, int] = {}
    for value, node in handles:
        if value in first_line:
            raise _error(node, f"repeats the {what} `{value}` (first on line {first_line[value]})")
        first_line[value] = node.line


def _schedule(node: Node) -> tuple[int, str]:
    fields = _fields(node, {"weekday", "time"}, {"weekday", "time"})
    weekday = parse_weekday(_text(fields["weekday"]))
    if weekday is None:
        raise _error(fields["weekday"], "must be a weekday like monday")
    time_node = fields["time"]
    raw = time_node.value
    # YAML 1.1 reads an unquoted 9:00 as the sexagesimal number 540: use the text written.
    sexagesimal = isinstance(raw, int) and not isinstance(raw, bool)
    text = time_node.written if sexagesimal else _text(time_node)
    local_time = parse_local_time(text)
    if local_time is None:
        raise _error(time_node, 'must be a time like "09:00"')
    return weekday, local_time


def _objective(node: Node) -> ObjectiveSpec:
    fields = _fields(
        node,
        {"key", "title", "owner", "channel", "cycle", "status", "parent", "key_results"},
        {"title", "owner"},
    )
    spec = ObjectiveSpec(
        title=_text(fields["title"]),
        owner_id=_id(fields["owner"], _USER_ID, "user"),
        key=_text(fields["key"], 100) if "key" in fields else None,
        channel_id=_id(fields["channel"], _CHANNEL_ID, "channel") if "channel" in fields else None,
    )
    if "cycle" in fields:
        try:
            spec.cycle = parse_cycle(_text(fields["cycle"], 16))
        except UserError as exc:
            raise _error(fields["cycle"], exc.message) from None
    if "status" in fields:
        status = _text(fields["status"])
        if status not in {"active", "done", "dropped"}:
            raise _error(fields["status"], "must be active, done or dropped")
        spec.status = status
    if "parent" in fields:
        spec.parent, spec.parent_node = _text(fields["parent"]), fields["parent"]
    if "key_results" in fields:
        items = _list(fields["key_results"])
        spec.key_results = [_key_result(item) for item in items]
        _no_duplicates(
            [(kr.title, n.value["title"]) for kr, n in zip(spec.key_results, items, strict=True)],
            "key result title",
        )
    return spec


def _key_result(node: Node) -> KeyResultSpec:
    spec = _key_result_measure(node)
    fields = dict(node.value)
    if "follows" in fields:
        key = _text(fields["follows"], 100)
        if not KPI_KEY.match(key):
            raise _error(fields["follows"], "must be a KPI key like signup_rate")
        spec.follows, spec.follows_node = key, fields["follows"]
    return spec


def _key_result_measure(node: Node) -> KeyResultSpec:
    fields = _fields(
        node, {"title", "owner", "from", "to", "range", "boolean", "unit", "follows"}, {"title"}
    )
    owner = _id(fields["owner"], _USER_ID, "user") if "owner" in fields else None
    unit = _text(fields["unit"], 32) if "unit" in fields else None
    title = _text(fields["title"])
    ways = [name for name in ("from", "range", "boolean") if name in fields]
    if "to" in fields and "from" not in fields:
        raise _error(fields["to"], "needs `from` as well")
    if len(ways) != 1:
        raise _error(
            node,
            f"(key result {title!r}) needs exactly one of "
            "`from`/`to`, `range: [low, high]` or `boolean: true`",
        )
    if "boolean" in fields:
        if fields["boolean"].value is not True:
            raise _error(fields["boolean"], "must be true")
        return KeyResultSpec(title, "boolean", owner, start=0.0, target=1.0, unit=unit)
    if "range" in fields:
        pair = fields["range"]
        if not isinstance(pair.value, list) or len(pair.value) != 2:
            raise _error(pair, "must be a list of two numbers, like [0, 1.5]")
        low, high = _number(pair.value[0]), _number(pair.value[1])
        if low > high:
            raise _error(pair, f"has its low end {low:g} above its high end {high:g}")
        return KeyResultSpec(title, "range", owner, low=low, high=high, unit=unit)
    if "to" not in fields:
        raise _error(fields["from"], "needs `to` as well")
    start, target = _number(fields["from"]), _number(fields["to"])
    if start == target:
        raise _error(fields["to"], f"equals `from` ({start:g}): they must differ")
    kind = "increase" if target > start else "decrease"
    return KeyResultSpec(title, kind, owner, start=start, target=target, unit=unit)


def _whole(node: Node, low: int, high: int) -> int:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _error(node, f"must be a whole number from {low} to {high}")
    return value


def _kpi(node: Node) -> KpiSpec:
    fields = _fields(
        node,
        {"key", "name", "unit", "channel", "min", "max", "every", "after", "history"},
        {"key", "name"},
    )
    key = _text(fields["key"], 100)
    if not KPI_KEY.match(key):
        raise _error(
            fields["key"], "must be lowercase letters, digits and _ . - (like signup_rate)"
        )
    spec = KpiSpec(key=key, name=_text(fields["name"]))
    spec.unit = _text(fields["unit"], 32) if "unit" in fields else None
    if "channel" in fields:
        spec.channel_id = _id(fields["channel"], _CHANNEL_ID, "channel")
    spec.min_value = _number(fields["min"]) if "min" in fields else None
    spec.max_value = _number(fields["max"]) if "max" in fields else None
    if "every" in fields:
        try:
            spec.expected_interval_seconds = parse_duration(_text(fields["every"], 16), "")
        except UserError:
            raise _error(fields["every"], "must be a duration like 30m, 1h, 1d or 1w") from None
    if "after" in fields:
        spec.consecutive = _whole(fields["after"], 1, 100)
    if "history" in fields:
        spec.min_history = _whole(fields["history"], 5, 10_000)
    if (
        spec.min_value is not None
        and spec.max_value is not None
        and spec.min_value > spec.max_value
    ):
        raise _error(fields["min"], f"({spec.min_value:g}) is above `max` ({spec.max_value:g})")
    return spec


# Applying -------------------------------------------------------------------


@dataclass
class ImportReport:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)

    def count(self, bucket: dict[str, int], what: str) -> None:
        bucket[what] = bucket.get(what, 0) + 1

    def summary(self) -> str:
        def fmt(bucket: dict[str, int]) -> str:
            parts = [f"{n} {what}{'s' if n != 1 else ''}" for what, n in sorted(bucket.items())]
            return ", ".join(parts) or "nothing"

        if not self.created and not self.updated:
            return "import: nothing to change"
        return f"import: created {fmt(self.created)}; updated {fmt(self.updated)}"


def _assign(row: Any, values: dict[str, Any]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


class Transfer:
    """`okrbot import` / `okrbot export`, through the same rules as the commands."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def import_document(self, team_id: str, document: Node, now: datetime) -> ImportReport:
        """Validate everything, then apply it in one transaction."""
        spec = validate(document)
        report = ImportReport()
        async with self._db.team(team_id) as store:
            await store.workspace.ensure(now)
            if spec.schedule is not None:
                current = await store.prompts.schedule()
                if current is None or (current.weekday, current.local_time) != spec.schedule:
                    await store.prompts.set_schedule(*spec.schedule, now)
                    report.count(report.updated if current else report.created, "schedule")
            rows, created, updated = await _apply_objectives(store, spec, now)
            await _link_parents(store, rows, updated, now)
            for bucket, ids in ((report.created, created), (report.updated, updated - created)):
                if ids:
                    bucket["objective"] = len(ids)
            kpis = await _apply_kpis(store, spec.kpis, report, now)
            await _apply_key_results(store, rows, report, now, kpis)
        return report

    async def export(self, team_id: str) -> str:
        """The workspace as YAML in SPEC's shape; importing it changes nothing."""
        async with self._db.team(team_id) as store:
            schedule = await store.prompts.schedule()
            objectives = await store.okrs.all_objectives()
            key_results = await store.okrs.key_results_for(o.id for o in objectives)
            kpis = await store.kpis.all()
        document: dict[str, Any] = {}
        if schedule is not None:
            document["schedule"] = {
                "weekday": WEEKDAYS[schedule.weekday],
                "time": schedule.local_time,
            }
        handles = {o.id: (o.key or o.title) for o in objectives}
        kpi_keys = {k.id: k.key for k in kpis}
        krs_by_objective: dict[int, list[KeyResult]] = {}
        for kr in key_results:
            krs_by_objective.setdefault(kr.objective_id, []).append(kr)
        document["objectives"] = [
            _export_objective(o, krs_by_objective.get(o.id, []), handles, kpi_keys)
            for o in objectives
        ]
        document["kpis"] = [_export_kpi(k) for k in kpis]
        return yaml.safe_dump(
            document, sort_keys=False, allow_unicode=True, default_flow_style=None
        )


async def _apply_objectives(
    store: TeamStore, spec: DocumentSpec, now: datetime
) -> tuple[list[tuple[ObjectiveSpec, Objective]], set[int], set[int]]:
    existing = await store.okrs.all_objectives()
    by_key = {o.key: o for o in existing if o.key}
    # A keyless entry matches by title an objective no entry claims by key,
    # those without a key first, each objective at most once.
    claimed = {id(by_key[o.key]) for o in spec.objectives if o.key and o.key in by_key}
    by_title: dict[str, list[Objective]] = {}
    for o in sorted(existing, key=lambda o: o.key is not None):
        if id(o) not in claimed:
            by_title.setdefault(o.title, []).append(o)
    rows: list[tuple[ObjectiveSpec, Objective]] = []
    created: set[int] = set()
    updated: set[int] = set()
    for objective_spec in spec.objectives:
        if objective_spec.key:
            row = by_key.get(objective_spec.key)
        else:
            candidates = by_title.get(objective_spec.title, [])
            row = candidates.pop(0) if candidates else None
        cycle = objective_spec.cycle or (row.cycle if row else None) or current_cycle(now)
        if row is None:
            row = await new_objective(
                store,
                title=objective_spec.title,
                owner_id=objective_spec.owner_id,
                channel_id=objective_spec.channel_id,
                cycle=cycle,
                status=objective_spec.status,
                key=objective_spec.key,
                now=now,
            )
            created.add(row.id)
            rows.append((objective_spec, row))
            continue
        values = {
            "title": objective_spec.title,
            "owner_id": objective_spec.owner_id,
            "channel_id": objective_spec.channel_id,
            "cycle": cycle,
            "status": objective_spec.status,
            "key": objective_spec.key,
        }
        if _assign(row, values):
            row.updated_at = now
            updated.add(row.id)
        rows.append((objective_spec, row))
    return rows, created, updated


async def _link_parents(
    store: TeamStore,
    rows: list[tuple[ObjectiveSpec, Objective]],
    updated: set[int],
    now: datetime,
) -> None:
    everything = await store.okrs.all_objectives()
    by_handle = {o.title: o for o in everything} | {o.key: o for o in everything if o.key}
    links = {o.id: o.parent_id for o in everything}
    for objective_spec, row in rows:
        parent_id = None
        if objective_spec.parent is not None:
            assert objective_spec.parent_node is not None
            parent = by_handle.get(objective_spec.parent)
            if parent is None:
                raise _error(
                    objective_spec.parent_node, "names no objective (use its key or title)"
                )
            if would_loop(links, row.id, parent.id):
                raise _error(objective_spec.parent_node, "would make a loop of parents")
            parent_id = parent.id
        if row.parent_id != parent_id:
            row.parent_id = parent_id
            links[row.id] = parent_id
            row.updated_at = now
            updated.add(row.id)


async def _apply_key_results(
    store: TeamStore,
    rows: list[tuple[ObjectiveSpec, Objective]],
    report: ImportReport,
    now: datetime,
    kpis: dict[str, Kpi],
) -> None:
    existing = await store.okrs.key_results_for(row.id for _, row in rows)
    by_objective: dict[int, dict[str, KeyResult]] = {}
    for kr in existing:
        by_objective.setdefault(kr.objective_id, {})[kr.title] = kr
    for objective_spec, objective in rows:
        current = by_objective.get(objective.id, {})
        for kr_spec in objective_spec.key_results:
            kpi = None
            if kr_spec.follows is not None:
                kpi = kpis.get(kr_spec.follows)
                if kpi is None:
                    assert kr_spec.follows_node is not None
                    raise _error(kr_spec.follows_node, "names no KPI of this workspace or file")
            owner = kr_spec.owner_id or objective_spec.owner_id
            target = Target(kr_spec.kind, kr_spec.start, kr_spec.target, kr_spec.low, kr_spec.high)
            row = current.get(kr_spec.title)
            if row is None:
                await new_key_result(
                    store,
                    objective,
                    title=kr_spec.title,
                    owner_id=owner,
                    target=target,
                    unit=kr_spec.unit,
                    kpi=kpi,
                    now=now,
                )
                report.count(report.created, "key result")
                continue
            values = {
                "kpi_id": kpi.id if kpi else None,
                "owner_id": owner,
                "kind": target.kind,
                "start_value": target.start,
                "target_value": target.target,
                "range_low": target.low,
                "range_high": target.high,
                "unit": kr_spec.unit,
            }
            if _assign(row, values):
                row.updated_at = now
                report.count(report.updated, "key result")


async def _apply_kpis(
    store: TeamStore, kpis: list[KpiSpec], report: ImportReport, now: datetime
) -> dict[str, Kpi]:
    """Create or update the file's KPIs; returns every KPI of the workspace by key."""
    existing = {k.key: k for k in await store.kpis.all()}
    for spec in kpis:
        values = {
            "name": spec.name,
            "unit": spec.unit,
            "channel_id": spec.channel_id,
            "min_value": spec.min_value,
            "max_value": spec.max_value,
            "expected_interval_seconds": spec.expected_interval_seconds,
            "consecutive": spec.consecutive,
            "min_history": spec.min_history,
        }
        row = existing.get(spec.key)
        if row is None:
            existing[spec.key] = await new_kpi(store, spec.key, now, **values)
            report.count(report.created, "KPI")
        elif await change_kpi(store, row, values, now):
            report.count(report.updated, "KPI")
    return existing


# Export ---------------------------------------------------------------------


def _export_objective(
    objective: Objective,
    key_results: list[KeyResult],
    handles: dict[int, str],
    kpi_keys: dict[int, str],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if objective.key:
        out["key"] = objective.key
    out["title"] = objective.title
    out["owner"] = objective.owner_id
    if objective.channel_id:
        out["channel"] = objective.channel_id
    out["cycle"] = objective.cycle
    if objective.status != "active":
        out["status"] = objective.status
    if objective.parent_id is not None and objective.parent_id in handles:
        out["parent"] = handles[objective.parent_id]
    out["key_results"] = [
        _export_key_result(kr, objective.owner_id, kpi_keys) for kr in key_results
    ]
    return out


def _plain_number(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if value == int(value) and abs(value) < 2**53 else value


def _export_key_result(
    kr: KeyResult, objective_owner: str, kpi_keys: dict[int, str]
) -> dict[str, Any]:
    out: dict[str, Any] = {"title": kr.title}
    if kr.owner_id != objective_owner:  # import gives a key result its objective's owner
        out["owner"] = kr.owner_id
    if kr.kind == "boolean":
        out["boolean"] = True
    elif kr.kind == "range":
        out["range"] = [_plain_number(kr.range_low), _plain_number(kr.range_high)]
    else:
        out["from"] = _plain_number(kr.start_value)
        out["to"] = _plain_number(kr.target_value)
    if kr.unit:
        out["unit"] = kr.unit
    if kr.kpi_id is not None and kr.kpi_id in kpi_keys:
        out["follows"] = kpi_keys[kr.kpi_id]
    return out


def _export_kpi(kpi: Kpi) -> dict[str, Any]:
    out: dict[str, Any] = {"key": kpi.key, "name": kpi.name}
    if kpi.unit:
        out["unit"] = kpi.unit
    if kpi.channel_id:
        out["channel"] = kpi.channel_id
    if kpi.min_value is not None:
        out["min"] = _plain_number(kpi.min_value)
    if kpi.max_value is not None:
        out["max"] = _plain_number(kpi.max_value)
    if kpi.expected_interval_seconds:
        out["every"] = format_duration(kpi.expected_interval_seconds)
    if kpi.consecutive != DEFAULTS.consecutive:
        out["after"] = kpi.consecutive
    if kpi.min_history != DEFAULTS.min_history:
        out["history"] = kpi.min_history
    return out
