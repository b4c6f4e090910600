"""`okrbot import` / `okrbot export`: the YAML in SPEC, validated whole before any write.

Import is idempotent (objectives match by `key`, else by title; key results by
`id` within their objective, else by title; KPIs by key; history by time) and
transactional: every bad field of the file is reported at once, each with its
line and path, and nothing is stored. `id: O-2` / `id: KR-4` keep their numbers
wherever the number is free (an empty workspace), and numbering continues after
the highest. People and channels may be ids, `@name`, an email or `#name`,
resolved through Slack before the transaction starts.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, TypeVar

import yaml

from bot.core.errors import UserError
from bot.core.grammar import parse_cycle
from bot.core.progress import STATUSES, current_cycle
from bot.core.schedule import WEEKDAYS
from bot.core.times import format_duration, implausible, iso, parse_instant
from bot.kpis.commands import KPI_KEY, parse_duration
from bot.kpis.ingest import replayed_detector
from bot.kpis.rules import DEFAULTS
from bot.kpis.service import change_kpi, new_kpi
from bot.okrs.commands import Target, parse_local_time, parse_weekday
from bot.okrs.service import new_key_result, new_objective, would_loop
from bot.transfer import people
from bot.transfer.people import Handle, PeopleFinder, resolve_handles
from bot.transfer.problems import FieldError, Problems, Several
from storage.db import Database
from storage.models import CheckIn, KeyResult, Kpi, Objective
from storage.repositories import TeamStore
from storage.repositories.kpis import Point

T = TypeVar("T")

_USER_ID = re.compile(r"^[UW][A-Z0-9]{1,20}$")
_USER_MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>$")
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{1,20}$")
_CHANNEL_MENTION = re.compile(r"^<#([CG][A-Z0-9]{2,})(?:\|[^>]*)?>$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SLACK_NAME = re.compile(r"^[^\s@#<>][^@#<>]{0,79}$")  # real names have spaces
_NUMBERED = {
    "objective": re.compile(r"^O-?(\d{1,9})$", re.I),
    "key result": re.compile(r"^KR-?(\d{1,9})$", re.I),
}
NOTE_LIMIT = 2000


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


def _error(node: Node, message: str) -> FieldError:
    return FieldError(node.line, f"`{node.path}` {message}")


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
class CheckInSpec:
    at: datetime
    line: int = 0
    path: str = ""
    value: float | None = None
    status: str | None = None
    confidence: int | None = None
    note: str | None = None
    author: Handle | None = None
    source: str = "import"
    period: datetime | None = None  # the owner's period it counts for
    no_change: bool = False


@dataclass
class KeyResultSpec:
    title: str
    kind: str
    owner: Handle | None
    start: float | None = None
    target: float | None = None
    low: float | None = None
    high: float | None = None
    unit: str | None = None
    follows: str | None = None
    follows_node: Node | None = None
    number: int | None = None
    history: list[CheckInSpec] = field(default_factory=list)


@dataclass
class ObjectiveSpec:
    title: str
    owner: Handle
    key: str | None = None
    channel: Handle | None = None
    cycle: str | None = None
    status: str = "active"
    parent: str | None = None
    parent_node: Node | None = None
    number: int | None = None
    key_results: list[KeyResultSpec] = field(default_factory=list)


@dataclass
class KpiSpec:
    key: str
    name: str
    unit: str | None = None
    channel: Handle | None = None
    owner: Handle | None = None
    min_value: float | None = None
    max_value: float | None = None
    expected_interval_seconds: int | None = None
    consecutive: int = DEFAULTS.consecutive
    min_history: int = DEFAULTS.min_history
    measurements: list[tuple[datetime, float, Node]] = field(default_factory=list)


@dataclass
class DocumentSpec:
    schedule: tuple[int, str] | None
    objectives: list[ObjectiveSpec]
    kpis: list[KpiSpec]
    # Every objective handle and KPI key the file writes, valid entries or not, so a
    # `parent` or `follows` naming a broken entry is not reported a second time.
    written_handles: set[str] = field(default_factory=set)
    written_kpi_keys: set[str] = field(default_factory=set)

    def handles(self) -> list[Handle]:
        """Every person and channel the file names, for one lookup pass."""
        found: list[Handle] = []
        for objective in self.objectives:
            found.append(objective.owner)
            if objective.channel is not None:
                found.append(objective.channel)
            for kr in objective.key_results:
                if kr.owner is not None:
                    found.append(kr.owner)
                found.extend(c.author for c in kr.history if c.author is not None)
        for kpi in self.kpis:
            found.extend(h for h in (kpi.channel, kpi.owner) if h is not None)
        return found


def _fields(
    node: Node,
    allowed: set[str],
    required: frozenset[str] | set[str] = frozenset(),
    problems: Problems | None = None,
) -> dict[str, Node]:
    """The mapping's fields; unknown or missing ones are problems (all of them). With
    `problems`, those are noted there and the known fields returned, so the rest of the
    entry is still checked."""
    if not isinstance(node.value, dict):
        raise _error(node, "must be a mapping")
    found: list[FieldError] = []
    for name in sorted(set(node.value) - allowed):
        found.append(
            _error(
                node.value[name],
                f"is not a known field (expected one of: {', '.join(sorted(allowed))})",
            )
        )
    for name in sorted(required):
        if name not in node.value:
            found.append(FieldError(node.line, f"`{node.path or 'item'}` is missing `{name}`"))
    if problems is not None:
        for error in found:
            problems.add(error)
        return {name: value for name, value in node.value.items() if name in allowed}
    if len(found) == 1:
        raise found[0]
    if found:
        raise Several(found)
    return dict(node.value)


def _try(problems: Problems, work: Callable[[], T]) -> T | None:
    return problems.attempt(work)


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
    try:
        number = float(value)
    except OverflowError:  # an integer with hundreds of digits
        raise _error(node, "must be a finite number") from None
    if not math.isfinite(number):
        raise _error(node, "must be a finite number")
    return number


def _person(node: Node) -> Handle:
    """A user id (`U0123ABCD`, `<@U0123ABCD>`), an `@name` or an email."""
    text = "" if node.value is None else _text(node, 254)
    if _USER_ID.match(text):
        return Handle(people.USER_ID, text, node.line, node.path)
    if mention := _USER_MENTION.match(text):
        return Handle(people.USER_ID, mention.group(1), node.line, node.path)
    if text.startswith("@") and _SLACK_NAME.match(text[1:]):
        return Handle(people.USER_NAME, text[1:], node.line, node.path)
    if _EMAIL.match(text):
        return Handle(people.EMAIL, text, node.line, node.path)
    raise _error(
        node, 'must be a Slack user id like U0123ABCD, an "@name" or an email like ana@example.com'
    )


def _channel(node: Node) -> Handle:
    """A channel id (`C0123ABCD`, `<#C0123ABCD>`) or a `#name`."""
    if node.value is None:  # an unquoted `#name` is a YAML comment, leaving nothing
        raise _error(node, 'is empty: write a channel id, or a name in quotes like "#growth"')
    text = _text(node, 82)
    if _CHANNEL_ID.match(text):
        return Handle(people.CHANNEL_ID, text, node.line, node.path)
    if mention := _CHANNEL_MENTION.match(text):
        return Handle(people.CHANNEL_ID, mention.group(1), node.line, node.path)
    if text.startswith("#") and _SLACK_NAME.match(text[1:]):
        return Handle(people.CHANNEL_NAME, text[1:], node.line, node.path)
    raise _error(node, 'must be a Slack channel id like C0123ABCD or a name like "#growth"')


def _numbered(node: Node, what: str) -> int:
    text = _text(node, 16)
    match = _NUMBERED[what].match(text)
    if match is None or int(match.group(1)) < 1:
        example = "an objective id like O-2" if what == "objective" else "a key result id like KR-4"
        raise _error(node, f"must be {example}")
    return int(match.group(1))


def _instant(node: Node) -> datetime:
    value = node.value
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    try:
        return parse_instant(_text(node, 40))
    except ValueError:
        raise _error(node, "must be a time like 2026-11-25T10:00:00Z") from None


def validate(document: Node) -> DocumentSpec:
    """The whole file as specs; every problem of it raised at once."""
    problems = Problems()
    spec = collect(document, problems)
    problems.raise_all()
    return spec


def collect(document: Node, problems: Problems) -> DocumentSpec:
    """The file as specs, each problem noted. Specs of entries with a problem are kept
    (their other fields still name people and objectives to check) but never applied:
    any problem stops the import before it writes."""
    spec = DocumentSpec(None, [], [])
    top = _try(
        problems, lambda: _fields(document, {"schedule", "objectives", "kpis"}, problems=problems)
    )
    if top is None:
        return spec
    if "schedule" in top:
        spec.schedule = _try(problems, lambda: _schedule(top["schedule"]))
    objective_nodes = (
        _try(problems, lambda: _list(top["objectives"])) if "objectives" in top else []
    )
    for item in objective_nodes or []:
        spec.written_handles |= _written(item, ("key", "title"))
        objective = _objective(item, problems)
        if objective is not None:
            spec.objectives.append(objective)
    kpi_nodes = _try(problems, lambda: _list(top["kpis"])) if "kpis" in top else []
    for item in kpi_nodes or []:
        spec.written_kpi_keys |= _written(item, ("key",))
        kpi = _kpi(item, problems)
        if kpi is not None:
            spec.kpis.append(kpi)
    objectives = [n for n in objective_nodes or [] if isinstance(n.value, dict)]
    _no_duplicates(problems, _handles_of(objectives, "key"), "objective key")
    keyless = [n for n in objectives if "key" not in n.value]
    _no_duplicates(problems, _handles_of(keyless, "title"), "objective title")
    _no_duplicates(problems, _handles_of(objectives, "id"), "objective id", _id_text)
    key_results = [
        kr
        for o in objectives
        if isinstance(o.value.get("key_results", Node(None, 0, "")).value, list)
        for kr in o.value["key_results"].value
        if isinstance(kr.value, dict)
    ]
    _no_duplicates(problems, _handles_of(key_results, "id"), "key result id", _id_text)
    kpis = [n for n in kpi_nodes or [] if isinstance(n.value, dict)]
    _no_duplicates(problems, _handles_of(kpis, "key"), "KPI key")
    return spec


def _written(node: Node, names: tuple[str, ...]) -> set[str]:
    if not isinstance(node.value, dict):
        return set()
    values = (node.value[name].value for name in names if name in node.value)
    return {str(v).strip() for v in values if isinstance(v, str | int | float)}


def _handles_of(nodes: list[Node], name: str) -> list[Node]:
    return [n.value[name] for n in nodes if name in n.value]


def _id_text(value: Any) -> str:
    return str(value).strip().upper().replace("-", "")


def _list(node: Node) -> list[Node]:
    if not isinstance(node.value, list):
        raise _error(node, "must be a list")
    return list(node.value)


def _no_duplicates(
    problems: Problems,
    nodes: list[Node],
    what: str,
    normal: Callable[[Any], str] = lambda v: str(v).strip(),
) -> None:
    """Each handle once; every repeat is reported at its own line."""
    first_line: dict[str, int] = {}
    for node in nodes:
        if not isinstance(node.value, str | int | float):
            continue
        value = normal(node.value)
        if value in first_line:
            problems.add(
                _error(
                    node,
                    f"repeats the {what} `{str(node.value).strip()}` "
                    f"(first on line {first_line[value]})",
                )
            )
        else:
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


def _objective(node: Node, problems: Problems) -> ObjectiveSpec | None:
    allowed = {"id", "key", "title", "owner", "channel", "cycle", "status", "parent"}
    fields = _try(
        problems, lambda: _fields(node, allowed | {"key_results"}, {"title", "owner"}, problems)
    )
    if fields is None:
        return None
    title = _try(problems, lambda: _text(fields["title"])) if "title" in fields else None
    owner = _try(problems, lambda: _person(fields["owner"])) if "owner" in fields else None
    spec = ObjectiveSpec(title=title or "", owner=owner or Handle(people.USER_ID, ""))
    if "key" in fields:
        spec.key = _try(problems, lambda: _text(fields["key"], 100))
    if "id" in fields:
        spec.number = _try(problems, lambda: _numbered(fields["id"], "objective"))
    if "channel" in fields:
        spec.channel = _try(problems, lambda: _channel(fields["channel"]))
    if "cycle" in fields:
        spec.cycle = _try(problems, lambda: _cycle(fields["cycle"]))
    if "status" in fields:
        spec.status = _try(problems, lambda: _status(fields["status"])) or "active"
    if "parent" in fields:
        spec.parent = _try(problems, lambda: _text(fields["parent"]))
        spec.parent_node = fields["parent"]
    if "key_results" in fields:
        spec.key_results = _key_results(fields["key_results"], problems)
    return spec  # with a problem noted, it is only read for its references


def _cycle(node: Node) -> str:
    try:
        return parse_cycle(_text(node, 16))
    except FieldError:
        raise
    except UserError as exc:
        raise _error(node, exc.message) from None


def _status(node: Node) -> str:
    status = _text(node)
    if status not in {"active", "done", "dropped"}:
        raise _error(node, "must be active, done or dropped")
    return status


def _key_results(node: Node, problems: Problems) -> list[KeyResultSpec]:
    items = _try(problems, lambda: _list(node)) or []
    specs = [_key_result(item, problems) for item in items]
    mappings = [n for n in items if isinstance(n.value, dict)]
    _no_duplicates(problems, _handles_of(mappings, "title"), "key result title")
    return [spec for spec in specs if spec is not None]


_KEY_RESULT_FIELDS = {
    "id",
    "title",
    "owner",
    "from",
    "to",
    "range",
    "boolean",
    "unit",
    "follows",
    "check_ins",
}


def _key_result(node: Node, problems: Problems) -> KeyResultSpec | None:
    fields = _try(problems, lambda: _fields(node, _KEY_RESULT_FIELDS, {"title"}, problems))
    if fields is None:  # not a mapping
        return None
    # With a problem in its measure, the rest of the entry is still checked.
    spec = _try(problems, lambda: _key_result_measure(node, fields))
    spec = spec or KeyResultSpec("", "increase", None)
    if "follows" in fields:
        key = _try(
            problems, lambda: _kpi_key(fields["follows"], "must be a KPI key like signup_rate")
        )
        spec.follows, spec.follows_node = key, fields["follows"]
    if "id" in fields:
        spec.number = _try(problems, lambda: _numbered(fields["id"], "key result"))
    if "check_ins" in fields:
        items = _try(problems, lambda: _list(fields["check_ins"])) or []
        seen: dict[datetime, int] = {}
        for item in items:
            check_in = _try(problems, partial(_check_in, item))
            if check_in is None:
                continue
            if check_in.at in seen:
                problems.add(_error(item, f"repeats the time of line {seen[check_in.at]}"))
            seen.setdefault(check_in.at, item.line)
            spec.history.append(check_in)
    return spec  # with a problem noted, it is only read for its references


def _kpi_key(node: Node, message: str) -> str:
    key = _text(node, 100)
    if not KPI_KEY.match(key):
        raise _error(node, message)
    return key


def _key_result_measure(node: Node, fields: dict[str, Node]) -> KeyResultSpec | None:
    """Title, owner, unit and the measure; None when the title is missing (noted)."""
    problems: list[FieldError] = []

    def attempt(work: Callable[[], T]) -> T | None:
        try:
            return work()
        except FieldError as exc:
            problems.append(exc)
            return None

    owner = attempt(lambda: _person(fields["owner"])) if "owner" in fields else None
    unit = attempt(lambda: _text(fields["unit"], 32)) if "unit" in fields else None
    title = attempt(lambda: _text(fields["title"])) if "title" in fields else None
    spec = attempt(lambda: _measure(node, fields, title or ""))
    if problems:
        raise problems[0] if len(problems) == 1 else Several(problems)
    if spec is None or title is None:
        return None
    spec.title, spec.owner, spec.unit = title, owner, unit
    return spec


def _measure(node: Node, fields: dict[str, Node], title: str) -> KeyResultSpec:
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
        return KeyResultSpec(title, "boolean", None, start=0.0, target=1.0)
    if "range" in fields:
        pair = fields["range"]
        if not isinstance(pair.value, list) or len(pair.value) != 2:
            raise _error(pair, "must be a list of two numbers, like [0, 1.5]")
        low, high = _number(pair.value[0]), _number(pair.value[1])
        if low > high:
            raise _error(pair, f"has its low end {low:g} above its high end {high:g}")
        return KeyResultSpec(title, "range", None, low=low, high=high)
    if "to" not in fields:
        raise _error(fields["from"], "needs `to` as well")
    start, target = _number(fields["from"]), _number(fields["to"])
    if start == target:
        raise _error(fields["to"], f"equals `from` ({start:g}): they must differ")
    kind = "increase" if target > start else "decrease"
    return KeyResultSpec(title, kind, None, start=start, target=target)


def _check_in(node: Node) -> CheckInSpec:
    allowed = {"at", "value", "status", "confidence", "note", "by", "source", "period", "no_change"}
    fields = _fields(node, allowed, {"at"})
    spec = CheckInSpec(at=_instant(fields["at"]), line=node.line, path=node.path)
    if "value" in fields and fields["value"].value is not None:
        spec.value = _number(fields["value"])
    if "status" in fields and fields["status"].value is not None:
        status = _text(fields["status"], 16)
        if status not in STATUSES:
            raise _error(fields["status"], f"must be one of {', '.join(STATUSES)}")
        spec.status = status
    if "confidence" in fields and fields["confidence"].value is not None:
        spec.confidence = _whole(fields["confidence"], 0, 10)
    if "note" in fields and fields["note"].value is not None:
        spec.note = _text(fields["note"], NOTE_LIMIT)
    if "by" in fields and fields["by"].value is not None:
        spec.author = _person(fields["by"])
    if "source" in fields:
        spec.source = _text(fields["source"], 16)
    if "period" in fields and fields["period"].value is not None:
        spec.period = _instant(fields["period"])
    if "no_change" in fields:
        if not isinstance(fields["no_change"].value, bool):
            raise _error(fields["no_change"], "must be true or false")
        spec.no_change = fields["no_change"].value
    return spec


def _whole(node: Node, low: int, high: int) -> int:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _error(node, f"must be a whole number from {low} to {high}")
    return value


def _kpi(node: Node, problems: Problems) -> KpiSpec | None:
    allowed = {"key", "name", "unit", "channel", "owner", "min", "max", "every", "after"}
    fields = _try(
        problems,
        lambda: _fields(node, allowed | {"history", "measurements"}, {"key", "name"}, problems),
    )
    if fields is None:
        return None

    def optional(name: str, work: Callable[[Node], T]) -> T | None:
        return _try(problems, lambda: work(fields[name])) if name in fields else None

    key = optional(
        "key",
        lambda n: _kpi_key(n, "must be lowercase letters, digits and _ . - (like signup_rate)"),
    )
    spec = KpiSpec(key=key or "", name=optional("name", _text) or "")

    spec.unit = optional("unit", lambda n: _text(n, 32))
    spec.channel = optional("channel", _channel)
    spec.owner = optional("owner", _person)
    spec.min_value = optional("min", _number)
    spec.max_value = optional("max", _number)
    spec.expected_interval_seconds = optional("every", _every)
    spec.consecutive = optional("after", lambda n: _whole(n, 1, 100)) or DEFAULTS.consecutive
    spec.min_history = optional("history", lambda n: _whole(n, 5, 10_000)) or DEFAULTS.min_history
    if (
        spec.min_value is not None
        and spec.max_value is not None
        and spec.min_value > spec.max_value
    ):
        problems.add(
            _error(fields["min"], f"({spec.min_value:g}) is above `max` ({spec.max_value:g})")
        )
    if "measurements" in fields:
        seen: dict[datetime, int] = {}
        for item in _try(problems, lambda: _list(fields["measurements"])) or []:
            point = _try(problems, partial(_measurement, item))
            if point is None:
                continue
            if point[0] in seen:
                problems.add(_error(item, f"repeats the time of line {seen[point[0]]}"))
            seen.setdefault(point[0], item.line)
            spec.measurements.append(point)
    return spec  # with a problem noted, it is only read for its references


def _every(node: Node) -> int:
    try:
        return parse_duration(_text(node, 16), "")
    except UserError:
        raise _error(node, "must be a duration like 30m, 1h, 1d or 1w") from None


def _measurement(node: Node) -> tuple[datetime, float, Node]:
    fields = _fields(node, {"at", "value"}, {"at", "value"})
    return _instant(fields["at"]), _number(fields["value"]), node


# Applying -------------------------------------------------------------------


@dataclass
class ImportReport:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def count(self, bucket: dict[str, int], what: str, n: int = 1) -> None:
        if n:
            bucket[what] = bucket.get(what, 0) + n

    def summary(self) -> str:
        def fmt(bucket: dict[str, int]) -> str:
            parts = [f"{n} {what}{'s' if n != 1 else ''}" for what, n in sorted(bucket.items())]
            return ", ".join(parts) or "nothing"

        if not self.created and not self.updated:
            text = "import: nothing to change"
        else:
            text = f"import: created {fmt(self.created)}; updated {fmt(self.updated)}"
        return "\n".join([text, *self.notes])


def _assign(row: Any, values: dict[str, Any]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


@dataclass
class _Context:
    """What applying one file needs besides the store: names found, numbers taken."""

    ids: dict[Handle, str]
    problems: Problems
    report: ImportReport
    now: datetime
    objective_numbers: set[int] = field(default_factory=set)
    key_result_numbers: set[int] = field(default_factory=set)

    def id_of(self, handle: Handle) -> str:
        return self.ids[handle]


class Transfer:
    """`okrbot import` / `okrbot export`, through the same rules as the commands."""

    def __init__(self, db: Database, finder: PeopleFinder | None = None) -> None:
        self._db = db
        self._finder = finder

    async def import_document(self, team_id: str, document: Node, now: datetime) -> ImportReport:
        """Check everything (the file, names through Slack, references into the
        workspace), then apply it in one transaction; any problem stores nothing."""
        problems = Problems()
        spec = collect(document, problems)
        ids, unknown = await resolve_handles(self._finder, team_id, spec.handles())
        for error in unknown:
            problems.add(error)
        report = ImportReport()
        context = _Context(ids, problems, report, now)
        _check_times(spec, now, problems)
        async with self._db.team(team_id) as store:
            await _check_references(store, spec, problems)
            problems.raise_all()
            await store.workspace.ensure(now)
            if spec.schedule is not None:
                current = await store.prompts.schedule()
                if current is None or (current.weekday, current.local_time) != spec.schedule:
                    await store.prompts.set_schedule(*spec.schedule, now)
                    report.count(report.updated if current else report.created, "schedule")
            await _reserve_numbers(store, spec, context)
            rows, created, updated = await _apply_objectives(store, spec, context)
            await _link_parents(store, rows, updated, context)
            for bucket, objective_ids in (
                (report.created, created),
                (report.updated, updated - created),
            ):
                if objective_ids:
                    bucket["objective"] = len(objective_ids)
            kpis = await _apply_kpis(store, spec.kpis, context)
            key_results = await _apply_key_results(store, rows, context, kpis)
            await _apply_check_ins(store, key_results, context)
            problems.raise_all()  # a loop of parents, a time in the future: roll back
        return report

    async def export(self, team_id: str, *, with_history: bool = False) -> str:
        """The workspace as YAML in SPEC's shape; importing it changes nothing.
        With history, each key result's check-ins and each KPI's measurements too."""
        async with self._db.team(team_id) as store:
            schedule = await store.prompts.schedule()
            objectives = await store.okrs.all_objectives()
            key_results = await store.okrs.key_results_for(o.id for o in objectives)
            kpis = await store.kpis.all()
            check_ins: dict[int, list[CheckIn]] = {}
            measurements: dict[int, list[tuple[datetime, float]]] = {}
            if with_history:
                for check_in in await store.checkins.all_for(kr.id for kr in key_results):
                    check_ins.setdefault(check_in.key_result_id, []).append(check_in)
                measurements = await store.kpis.history_of(k.id for k in kpis)
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
            _export_objective(o, krs_by_objective.get(o.id, []), handles, kpi_keys, check_ins)
            for o in objectives
        ]
        document["kpis"] = [_export_kpi(k, measurements.get(k.id)) for k in kpis]
        return yaml.safe_dump(
            document, sort_keys=False, allow_unicode=True, default_flow_style=None
        )


def _check_times(spec: DocumentSpec, now: datetime, problems: Problems) -> None:
    """History from the future (or before 1970) would stand as the newest value forever."""
    for kpi in spec.kpis:
        for at, _, node in kpi.measurements:
            if problem := implausible(at, now):
                problems.add(_error(node, problem))
    for objective in spec.objectives:
        for kr in objective.key_results:
            for check_in in kr.history:
                if problem := implausible(check_in.at, now):
                    problem = problem.replace("measurement", "check-in")
                    problems.add(FieldError(check_in.line, f"`{check_in.path}` {problem}"))


async def _check_references(store: TeamStore, spec: DocumentSpec, problems: Problems) -> None:
    """`parent` and `follows` must name an objective or KPI of the file or the workspace
    (one that is not there is a problem of its own; a broken entry is reported once)."""
    existing = await store.okrs.all_objectives()
    objectives = (
        spec.written_handles | {o.title for o in existing} | {o.key for o in existing if o.key}
    )
    kpis = spec.written_kpi_keys | {k.key for k in await store.kpis.all()}
    for objective in spec.objectives:
        if objective.parent is not None and objective.parent not in objectives:
            assert objective.parent_node is not None
            problems.add(_error(objective.parent_node, "names no objective (use its key or title)"))
        for kr in objective.key_results:
            if kr.follows is not None and kr.follows not in kpis:
                assert kr.follows_node is not None
                problems.add(_error(kr.follows_node, "names no KPI of this workspace or file"))


async def _reserve_numbers(store: TeamStore, spec: DocumentSpec, context: _Context) -> None:
    """Note the numbers in use and move the counters past every `id` of the file, so
    entries without one are numbered after the highest and never take a kept one."""
    objective_ids = [o.number for o in spec.objectives if o.number is not None]
    key_result_ids = [
        kr.number for o in spec.objectives for kr in o.key_results if kr.number is not None
    ]
    if objective_ids or key_result_ids:
        # First, as it locks the workspace row: a concurrent import keeping the same
        # numbers waits here, then sees them taken.
        await store.workspace.raise_counters(
            max(objective_ids, default=0), max(key_result_ids, default=0)
        )
    context.objective_numbers, context.key_result_numbers = await store.okrs.taken_numbers()


def _kept_number(
    wanted: int | None, taken: set[int], prefix: str, title: str, context: _Context
) -> int | None:
    """`wanted` when it is free; else None (the next number), with a note saying so."""
    if wanted is None:
        return None
    if wanted in taken:
        context.report.notes.append(
            f"{prefix}-{wanted} is taken in this workspace: {title!r} gets the next number"
        )
        return None
    return wanted


async def _apply_objectives(
    store: TeamStore, spec: DocumentSpec, context: _Context
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
    now = context.now
    for objective_spec in spec.objectives:
        if objective_spec.key:
            row = by_key.get(objective_spec.key)
        else:
            candidates = by_title.get(objective_spec.title, [])
            row = candidates.pop(0) if candidates else None
        cycle = objective_spec.cycle or (row.cycle if row else None) or current_cycle(now)
        owner_id = context.id_of(objective_spec.owner)
        channel_id = context.id_of(objective_spec.channel) if objective_spec.channel else None
        if row is None:
            number = _kept_number(
                objective_spec.number,
                context.objective_numbers,
                "O",
                objective_spec.title,
                context,
            )
            row = await new_objective(
                store,
                title=objective_spec.title,
                owner_id=owner_id,
                channel_id=channel_id,
                cycle=cycle,
                status=objective_spec.status,
                key=objective_spec.key,
                now=now,
                number=number,
            )
            context.objective_numbers.add(row.number)
            created.add(row.id)
            rows.append((objective_spec, row))
            continue
        values = {
            "title": objective_spec.title,
            "owner_id": owner_id,
            "channel_id": channel_id,
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
    context: _Context,
) -> None:
    everything = await store.okrs.all_objectives()
    by_handle = {o.title: o for o in everything} | {o.key: o for o in everything if o.key}
    links = {o.id: o.parent_id for o in everything}
    for objective_spec, row in rows:
        parent_id = None
        if objective_spec.parent is not None:
            assert objective_spec.parent_node is not None
            parent = by_handle.get(objective_spec.parent)
            if parent is None:  # checked before writing; kept as a guard
                context.problems.add(
                    _error(objective_spec.parent_node, "names no objective (use its key or title)")
                )
                continue
            if would_loop(links, row.id, parent.id):
                context.problems.add(
                    _error(objective_spec.parent_node, "would make a loop of parents")
                )
                continue
            parent_id = parent.id
        if row.parent_id != parent_id:
            row.parent_id = parent_id
            links[row.id] = parent_id
            row.updated_at = context.now
            updated.add(row.id)


async def _apply_key_results(
    store: TeamStore,
    rows: list[tuple[ObjectiveSpec, Objective]],
    context: _Context,
    kpis: dict[str, Kpi],
) -> list[tuple[KeyResultSpec, KeyResult]]:
    existing = await store.okrs.key_results_for(row.id for _, row in rows)
    by_objective: dict[int, list[KeyResult]] = {}
    for kr in existing:
        by_objective.setdefault(kr.objective_id, []).append(kr)
    report, now = context.report, context.now
    applied: list[tuple[KeyResultSpec, KeyResult]] = []
    for objective_spec, objective in rows:
        current = by_objective.get(objective.id, [])
        # An `id` naming one of this objective's key results matches it (a rename);
        # the others match by title, each key result at most once.
        by_number = {kr.number: kr for kr in current}
        claimed = {
            id(by_number[s.number]) for s in objective_spec.key_results if s.number in by_number
        }
        by_title = {kr.title: kr for kr in current if id(kr) not in claimed}
        for kr_spec in objective_spec.key_results:
            kpi = None
            if kr_spec.follows is not None:
                kpi = kpis.get(kr_spec.follows)
                if kpi is None:  # checked before writing; kept as a guard
                    assert kr_spec.follows_node is not None
                    context.problems.add(
                        _error(kr_spec.follows_node, "names no KPI of this workspace or file")
                    )
                    continue
            owner = context.id_of(kr_spec.owner or objective_spec.owner)
            target = Target(kr_spec.kind, kr_spec.start, kr_spec.target, kr_spec.low, kr_spec.high)
            row: KeyResult | None = None
            if kr_spec.number is not None and kr_spec.number in by_number:
                row = by_number[kr_spec.number]
            elif kr_spec.title in by_title:
                row = by_title.pop(kr_spec.title)
            if row is None:
                number = _kept_number(
                    kr_spec.number, context.key_result_numbers, "KR", kr_spec.title, context
                )
                row = await new_key_result(
                    store,
                    objective,
                    title=kr_spec.title,
                    owner_id=owner,
                    target=target,
                    unit=kr_spec.unit,
                    kpi=kpi,
                    now=now,
                    number=number,
                )
                context.key_result_numbers.add(row.number)
                report.count(report.created, "key result")
                applied.append((kr_spec, row))
                continue
            values = {
                "title": kr_spec.title,
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
            applied.append((kr_spec, row))
    return applied


async def _apply_check_ins(
    store: TeamStore, key_results: list[tuple[KeyResultSpec, KeyResult]], context: _Context
) -> None:
    """Check-ins of the file not stored yet (one per key result and time, so a second
    import adds none); the newest becomes the key result's value when it is newer than
    any stored one."""
    with_history = [(s, kr) for s, kr in key_results if s.history]
    if not with_history:
        return
    stored: dict[int, list[CheckIn]] = {}
    for check_in in await store.checkins.all_for(kr.id for _, kr in with_history):
        stored.setdefault(check_in.key_result_id, []).append(check_in)
    fresh: list[CheckIn] = []
    for spec, kr in with_history:
        known = {c.created_at for c in stored.get(kr.id, [])}
        added = [
            CheckIn(
                team_id=store.team_id,
                key_result_id=kr.id,
                value=c.value,
                status=c.status,
                confidence=c.confidence,
                note=c.note,
                author_id=context.id_of(c.author) if c.author else None,
                source=c.source,
                created_at=c.at,
                period_start=c.period,
                no_change=c.no_change,
            )
            for c in spec.history
            if c.at not in known
        ]
        fresh.extend(added)
        history = sorted([*stored.get(kr.id, []), *added], key=lambda c: c.created_at)
        if added and max(c.created_at for c in added) == history[-1].created_at:
            # As recording does: the last value given, and the last confidence given.
            values = [c.value for c in history if c.value is not None]
            confidences = [c.confidence for c in history if c.confidence is not None]
            if values:
                kr.current_value = values[-1]
            if confidences:
                kr.confidence = confidences[-1]
            kr.updated_at = context.now
    await store.checkins.add_all(fresh)
    context.report.count(context.report.created, "check-in", len(fresh))


async def _apply_kpis(store: TeamStore, kpis: list[KpiSpec], context: _Context) -> dict[str, Kpi]:
    """Create or update the file's KPIs and add their new measurements; returns every
    KPI of the workspace by key."""
    existing = {k.key: k for k in await store.kpis.all()}
    report, now = context.report, context.now
    for spec in kpis:
        values = {
            "name": spec.name,
            "unit": spec.unit,
            "channel_id": context.id_of(spec.channel) if spec.channel else None,
            "owner_id": context.id_of(spec.owner) if spec.owner else None,
            "min_value": spec.min_value,
            "max_value": spec.max_value,
            "expected_interval_seconds": spec.expected_interval_seconds,
            "consecutive": spec.consecutive,
            "min_history": spec.min_history,
        }
        row = existing.get(spec.key)
        if row is None:
            existing[spec.key] = row = await new_kpi(store, spec.key, now, **values)
            report.count(report.created, "KPI")
        elif await change_kpi(store, row, values, now):
            report.count(report.updated, "KPI")
        if spec.measurements:
            await _apply_measurements(store, row, spec, context)
    return existing


async def _apply_measurements(store: TeamStore, kpi: Kpi, spec: KpiSpec, context: _Context) -> None:
    """Measurements at times not stored yet (a restore: no alerts are raised for
    them); the detector is rebuilt from the history when the newest moved."""
    stored = (await store.kpis.history_of([kpi.id])).get(kpi.id, [])
    known = {at for at, _ in stored}
    fresh = [Point(at, value) for at, value, _ in spec.measurements if at not in known]
    if not fresh:
        return
    await store.kpis.store(kpi.id, fresh, [], "import")
    context.report.count(context.report.created, "measurement", len(fresh))
    newest = max(p.at for p in fresh)
    if kpi.last_measurement_at is None or newest > kpi.last_measurement_at:
        kpi.last_measurement_at = newest
        kpi.detector_state = json.dumps((await replayed_detector(store, kpi)).state())


# Export ---------------------------------------------------------------------


def _export_objective(
    objective: Objective,
    key_results: list[KeyResult],
    handles: dict[int, str],
    kpi_keys: dict[int, str],
    check_ins: dict[int, list[CheckIn]],
) -> dict[str, Any]:
    out: dict[str, Any] = {"id": f"O-{objective.number}"}
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
        _export_key_result(kr, objective.owner_id, kpi_keys, check_ins.get(kr.id, []))
        for kr in key_results
    ]
    return out


def _plain_number(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if value == int(value) and abs(value) < 2**53 else value


def _export_key_result(
    kr: KeyResult, objective_owner: str, kpi_keys: dict[int, str], check_ins: list[CheckIn]
) -> dict[str, Any]:
    out: dict[str, Any] = {"id": f"KR-{kr.number}", "title": kr.title}
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
    if check_ins:
        out["check_ins"] = [_export_check_in(c) for c in check_ins]
    return out


def _export_check_in(check_in: CheckIn) -> dict[str, Any]:
    out: dict[str, Any] = {"at": iso(check_in.created_at)}
    if check_in.value is not None:
        out["value"] = _plain_number(check_in.value)
    if check_in.status:
        out["status"] = check_in.status
    if check_in.confidence is not None:
        out["confidence"] = check_in.confidence
    if check_in.note:
        out["note"] = check_in.note
    if check_in.author_id:
        out["by"] = check_in.author_id
    out["source"] = check_in.source
    if check_in.period_start is not None:
        out["period"] = iso(check_in.period_start)
    if check_in.no_change:
        out["no_change"] = True
    return out


def _export_kpi(kpi: Kpi, measurements: list[tuple[datetime, float]] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"key": kpi.key, "name": kpi.name}
    if kpi.unit:
        out["unit"] = kpi.unit
    if kpi.channel_id:
        out["channel"] = kpi.channel_id
    if kpi.owner_id:
        out["owner"] = kpi.owner_id
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
    if measurements:
        out["measurements"] = [
            {"at": iso(at), "value": _plain_number(value)} for at, value in measurements
        ]
    return out
