"""The `/okr` grammar: command text → a typed command, or a UserError with usage."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.core.errors import UserError
from bot.core.grammar import (
    ChannelRef,
    Token,
    UserRef,
    parse_channel,
    parse_cycle,
    parse_key_result_id,
    parse_objective_id,
    parse_range,
    parse_user,
    tokenize,
)
from bot.core.numbers import parse_number
from bot.core.schedule import WEEKDAYS

USAGE = {
    "status": "/okr status [all | #channel | @user | O-3]",
    "objective add": (
        '/okr objective add "Title" [owner @u] [cycle 2026-Q4] [channel #c] [parent O-1]'
    ),
    "objective edit": (
        '/okr objective edit O-1 ["New title"] [owner @u] [cycle 2026-Q4] [channel #c] [parent O-2]'
    ),
    "objective close": "/okr objective close O-1",
    "objective delete": "/okr objective delete O-1",
    "kr add": (
        '/okr kr add O-1 "Title" (from 120 to 200 | range 2..5 | boolean) [unit teams] [owner @u] '
        "[follows kpi_key]"
    ),
    "kr edit": '/okr kr edit KR-4 ["New title"] [from X] [to Y] [range A..B] [unit u] [owner @u]',
    "kr delete": "/okr kr delete KR-4",
    "checkin": "/okr checkin [KR-4]",
    "schedule": "/okr schedule [monday 09:00] [#channel]",
    "skip": "/okr skip",
}

HELP_TEXT = "\n".join(
    [
        "*okrbot* keeps your OKRs alive between planning sessions.",
        "",
        "*See where things stand*",
        "• `/okr status` — objectives reporting to this channel (or all of them)",
        "• `/okr status all`, `/okr status #channel`, `/okr status @user`",
        "• `/okr status O-3` — one objective with its recent check-ins",
        "",
        "*Objectives*",
        f"• `{USAGE['objective add']}`",
        f"• `{USAGE['objective edit']}`",
        "• `/okr objective close O-1`, `/okr objective delete O-1`",
        "",
        "*Key results*",
        f"• `{USAGE['kr add']}`",
        f"• `{USAGE['kr edit']}`",
        "• `/okr kr delete KR-4`",
        "",
        "*Check-ins*",
        f"• `{USAGE['checkin']}` — update your key results now",
        f"• `{USAGE['schedule']}` — show or set the weekly check-in time "
        "(for one objective channel with `#channel`)",
        "• `/okr skip` — out this week: no check-in, no reminder",
        "",
        "Only an owner or a workspace admin may change or delete an objective or key result.",
    ]
)


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Status:
    scope: str  # "default" | "all" | "channel" | "user" | "objective"
    channel: ChannelRef | None = None
    user: UserRef | None = None
    objective_number: int | None = None


@dataclass(frozen=True)
class ObjectiveAdd:
    title: str
    owner: UserRef | None = None
    cycle: str | None = None
    channel: ChannelRef | None = None
    parent_number: int | None = None


@dataclass(frozen=True)
class ObjectiveEdit:
    number: int
    title: str | None = None
    owner: UserRef | None = None
    cycle: str | None = None
    channel: ChannelRef | None = None
    parent_number: int | None = None


@dataclass(frozen=True)
class ObjectiveClose:
    number: int


@dataclass(frozen=True)
class ObjectiveDelete:
    number: int


@dataclass(frozen=True)
class Target:
    """What a key result measures: its kind and the numbers that define progress."""

    kind: str  # increase | decrease | range | boolean
    start: float | None = None
    target: float | None = None
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class KeyResultAdd:
    objective_number: int
    title: str
    target: Target
    unit: str | None = None
    owner: UserRef | None = None
    follows: str | None = None


@dataclass(frozen=True)
class KpiGoal:
    """The "new key result that follows this KPI" modal, checked."""

    kpi_key: str
    objective_number: int
    title: str
    target: float
    owner_id: str


def check_kpi_goal(
    kpi_key: str, objective: str | None, title: str | None, target: str | None, owner: str | None
) -> tuple[KpiGoal | None, dict[str, str]]:
    """The goal, or an error per field (the modal shows each next to its field)."""
    errors: dict[str, str] = {}
    if not objective or not objective.isdigit():
        errors["objective"] = "Choose an objective."
    clean_title = " ".join((title or "").split())
    if not clean_title:
        errors["title"] = "Give the key result a title."
    elif len(clean_title) > 200:
        errors["title"] = "At most 200 characters."
    value: float | None = None
    if not (target or "").strip():
        errors["target"] = "Enter the value that means done."
    else:
        try:
            value = parse_number((target or "").strip(), "the target")
        except UserError as exc:
            errors["target"] = exc.message
    if not owner:
        errors["owner"] = "Choose who owns it."
    if errors or value is None or objective is None or owner is None:
        return None, errors
    return KpiGoal(kpi_key, int(objective), clean_title, value, owner), {}


@dataclass(frozen=True)
class KeyResultEdit:
    number: int
    title: str | None = None
    start: float | None = None
    target: float | None = None
    range: tuple[float, float] | None = None
    unit: str | None = None
    owner: UserRef | None = None


@dataclass(frozen=True)
class KeyResultDelete:
    number: int


@dataclass(frozen=True)
class CheckIn:
    key_result_number: int | None = None


@dataclass(frozen=True)
class ScheduleCommand:
    weekday: int | None = None
    local_time: str | None = None
    channel: ChannelRef | None = None


@dataclass(frozen=True)
class Skip:
    pass


OkrCommand = (
    Help
    | Status
    | ObjectiveAdd
    | ObjectiveEdit
    | ObjectiveClose
    | ObjectiveDelete
    | KeyResultAdd
    | KeyResultEdit
    | KeyResultDelete
    | CheckIn
    | ScheduleCommand
    | Skip
)


@dataclass
class _Options:
    """Keyword options after the positional part: `owner @u cycle 2026-Q4 …`."""

    values: dict[str, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)


def _take_options(
    tokens: list[Token], with_value: set[str], flags: set[str], usage: str
) -> _Options:
    options = _Options()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        word = token.text.lower()
        if token.quoted:
            raise UserError(f'unexpected quoted text "{token.text}"', usage)
        if word in flags:
            options.flags.add(word)
            i += 1
            continue
        if word not in with_value:
            raise UserError(f"unexpected `{token.text}`", usage)
        if word in options.values:
            raise UserError(f"`{word}` is given twice", usage)
        if i + 1 >= len(tokens):
            raise UserError(f"`{word}` needs a value", usage)
        options.values[word] = tokens[i + 1].text
        i += 2
    return options


def _user_option(options: _Options, usage: str) -> UserRef | None:
    if "owner" not in options.values:
        return None
    text = options.values["owner"]
    ref = parse_user(text)
    if ref is None:
        raise UserError(f"`{text}` is not a user: mention them like `@ana`", usage)
    return ref


def _channel_option(options: _Options, usage: str) -> ChannelRef | None:
    if "channel" not in options.values:
        return None
    text = options.values["channel"]
    ref = parse_channel(text)
    if ref is None:
        raise UserError(f"`{text}` is not a channel: mention it like `#growth`", usage)
    return ref


def _objective_number(text: str | None, usage: str) -> int:
    number = parse_objective_id(text) if text else None
    if number is None:
        shown = f"`{text}` is not" if text else "missing"
        raise UserError(f"{shown} an objective id like `O-1`", usage)
    return number


def _key_result_number(text: str | None, usage: str) -> int:
    number = parse_key_result_id(text) if text else None
    if number is None:
        shown = f"`{text}` is not" if text else "missing"
        raise UserError(f"{shown} a key result id like `KR-4`", usage)
    return number


def _title(tokens: list[Token], usage: str, what: str = "title") -> str:
    if not tokens or not tokens[0].quoted:
        raise UserError(f'missing {what}: put it in quotes, like "Grow weekly active teams"', usage)
    title = tokens[0].text
    if not title:
        raise UserError(f"the {what} is empty", usage)
    if len(title) > 200:
        raise UserError(f"the {what} is too long ({len(title)} characters; at most 200)", usage)
    return title


def _usage_for(text: str) -> str:
    """The usage line of the command the text starts like, for errors before parsing."""
    words = [w.lower() for w in text.split()[:2]]
    if words and words[0] in {"obj", "objectives"}:
        words[0] = "objective"
    if words and words[0] in {"keyresult", "key-result"}:
        words[0] = "kr"
    for candidate in (" ".join(words), words[0] if words else ""):
        if candidate in USAGE:
            return USAGE[candidate]
    return "/okr help"


def parse_okr_command(text: str) -> OkrCommand:
    """Parse `/okr` text; every error carries the usage line of the command attempted."""
    try:
        tokens = tokenize(text)
    except UserError as exc:
        raise exc.with_usage(_usage_for(text)) from None
    if not tokens or tokens[0].text.lower() in {"help", "-h", "--help", "?"}:
        return Help()
    head = tokens[0].text.lower()
    rest = tokens[1:]
    if head == "status":
        return _parse_status(rest)
    if head in {"objective", "objectives", "obj"}:
        return _parse_objective(rest)
    if head in {"kr", "keyresult", "key-result"}:
        return _parse_key_result(rest)
    if head == "checkin":
        return _parse_checkin(rest)
    if head == "schedule":
        return _parse_schedule(rest)
    if head == "skip":
        if rest:
            raise UserError("skip takes no arguments", USAGE["skip"])
        return Skip()
    raise UserError(
        f"unknown command `{tokens[0].text}`: try `/okr help`",
        "/okr [status | objective | kr | checkin | schedule | skip | help]",
    )


def _parse_status(rest: list[Token]) -> Status:
    usage = USAGE["status"]
    if not rest:
        return Status("default")
    if len(rest) > 1:
        raise UserError("status takes at most one scope", usage)
    arg = rest[0].text
    if arg.lower() == "all":
        return Status("all")
    if (number := parse_objective_id(arg)) is not None:
        return Status("objective", objective_number=number)
    if (channel := parse_channel(arg)) is not None:
        return Status("channel", channel=channel)
    if (user := parse_user(arg)) is not None:
        return Status("user", user=user)
    raise UserError(f"unknown scope `{arg}`", usage)


def _parse_objective(rest: list[Token]) -> OkrCommand:
    if not rest:
        raise UserError("which objective action?", "/okr objective add|edit|close|delete …")
    action = rest[0].text.lower()
    args = rest[1:]
    if action == "add":
        usage = USAGE["objective add"]
        title = _title(args, usage)
        options = _take_options(args[1:], {"owner", "cycle", "channel", "parent"}, set(), usage)
        return ObjectiveAdd(
            title=title,
            owner=_user_option(options, usage),
            cycle=_cycle_option(options, usage),
            channel=_channel_option(options, usage),
            parent_number=_parent_option(options, usage),
        )
    if action == "edit":
        usage = USAGE["objective edit"]
        number = _objective_number(args[0].text if args else None, usage)
        args = args[1:]
        new_title: str | None = None
        if args and args[0].quoted:
            new_title = _title(args, usage)
            args = args[1:]
        options = _take_options(args, {"owner", "cycle", "channel", "parent"}, set(), usage)
        edit = ObjectiveEdit(
            number=number,
            title=new_title,
            owner=_user_option(options, usage),
            cycle=_cycle_option(options, usage),
            channel=_channel_option(options, usage),
            parent_number=_parent_option(options, usage),
        )
        if edit == ObjectiveEdit(number=number):
            raise UserError("nothing to change: name at least one field", usage)
        return edit
    if action in {"close", "delete"}:
        usage = USAGE[f"objective {action}"]
        if len(args) != 1:
            raise UserError(f"`{action}` takes exactly one objective id", usage)
        number = _objective_number(args[0].text, usage)
        return ObjectiveClose(number) if action == "close" else ObjectiveDelete(number)
    raise UserError(
        f"unknown objective action `{rest[0].text}`", "/okr objective add|edit|close|delete …"
    )


def _cycle_option(options: _Options, usage: str) -> str | None:
    text = options.values.get("cycle")
    if text is None:
        return None
    try:
        return parse_cycle(text)
    except UserError as exc:
        raise exc.with_usage(usage) from None


def _parent_option(options: _Options, usage: str) -> int | None:
    text = options.values.get("parent")
    return None if text is None else _objective_number(text, usage)


def _number_option(options: _Options, name: str, usage: str) -> float | None:
    text = options.values.get(name)
    if text is None:
        return None
    try:
        return parse_number(text, f"`{name}`")
    except UserError as exc:
        raise exc.with_usage(usage) from None


def _range_option(options: _Options, usage: str) -> tuple[float, float] | None:
    text = options.values.get("range")
    if text is None:
        return None
    try:
        return parse_range(text)
    except UserError as exc:
        raise exc.with_usage(usage) from None


def _unit_option(options: _Options, usage: str) -> str | None:
    unit = options.values.get("unit")
    if unit is not None and len(unit) > 32:
        raise UserError("the unit is too long (at most 32 characters)", usage)
    return unit


def target_from(
    start: float | None,
    target: float | None,
    value_range: tuple[float, float] | None,
    boolean: bool,
    usage: str,
) -> Target:
    """Exactly one of from/to, range or boolean; increase or decrease is inferred."""
    given = sum([start is not None or target is not None, value_range is not None, boolean])
    if given == 0:
        raise UserError("say how it is measured: `from X to Y`, `range A..B` or `boolean`", usage)
    if given > 1:
        raise UserError("use only one of `from … to …`, `range A..B` or `boolean`", usage)
    if boolean:
        return Target("boolean", start=0.0, target=1.0)
    if value_range is not None:
        return Target("range", low=value_range[0], high=value_range[1])
    if start is None or target is None:
        raise UserError("`from` and `to` go together, like `from 120 to 200`", usage)
    if start == target:
        raise UserError(f"start and target are both {start:g}: they must differ", usage)
    return Target("increase" if target > start else "decrease", start=start, target=target)


def _parse_key_result(rest: list[Token]) -> OkrCommand:
    if not rest:
        raise UserError("which key result action?", "/okr kr add|edit|delete …")
    action = rest[0].text.lower()
    args = rest[1:]
    if action == "add":
        usage = USAGE["kr add"]
        objective_number = _objective_number(args[0].text if args else None, usage)
        title = _title(args[1:], usage)
        options = _take_options(
            args[2:], {"from", "to", "range", "unit", "owner", "follows"}, {"boolean"}, usage
        )
        target = target_from(
            _number_option(options, "from", usage),
            _number_option(options, "to", usage),
            _range_option(options, usage),
            "boolean" in options.flags,
            usage,
        )
        return KeyResultAdd(
            objective_number=objective_number,
            title=title,
            target=target,
            unit=_unit_option(options, usage),
            owner=_user_option(options, usage),
            follows=options.values.get("follows"),
        )
    if action == "edit":
        usage = USAGE["kr edit"]
        number = _key_result_number(args[0].text if args else None, usage)
        args = args[1:]
        new_title: str | None = None
        if args and args[0].quoted:
            new_title = _title(args, usage)
            args = args[1:]
        options = _take_options(args, {"from", "to", "range", "unit", "owner"}, set(), usage)
        edit = KeyResultEdit(
            number=number,
            title=new_title,
            start=_number_option(options, "from", usage),
            target=_number_option(options, "to", usage),
            range=_range_option(options, usage),
            unit=_unit_option(options, usage),
            owner=_user_option(options, usage),
        )
        if edit == KeyResultEdit(number=number):
            raise UserError("nothing to change: name at least one field", usage)
        if edit.range is not None and (edit.start is not None or edit.target is not None):
            raise UserError("use either `range A..B` or `from`/`to`, not both", usage)
        return edit
    if action == "delete":
        usage = USAGE["kr delete"]
        if len(args) != 1:
            raise UserError("`delete` takes exactly one key result id", usage)
        return KeyResultDelete(_key_result_number(args[0].text, usage))
    raise UserError(f"unknown key result action `{rest[0].text}`", "/okr kr add|edit|delete …")


def _parse_checkin(rest: list[Token]) -> CheckIn:
    usage = USAGE["checkin"]
    if not rest:
        return CheckIn()
    if len(rest) > 1:
        raise UserError("checkin takes at most one key result id", usage)
    return CheckIn(_key_result_number(rest[0].text, usage))


def parse_weekday(text: str) -> int | None:
    word = text.lower()
    for index, name in enumerate(WEEKDAYS):
        if len(word) >= 3 and name.startswith(word):
            return index
    return None


def parse_local_time(text: str) -> str | None:
    parts = text.split(":")
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    if not 1 <= len(parts[0]) <= 2 or len(parts[1]) != 2:
        return None
    hour, minute = int(parts[0]), int(parts[1])
    if not (0 <= hour < 24 and 0 <= minute < 60):
        return None
    return f"{hour:02d}:{minute:02d}"


def _parse_schedule(rest: list[Token]) -> ScheduleCommand:
    usage = USAGE["schedule"]
    channel = parse_channel(rest[-1].text) if rest else None
    if channel is not None:
        rest = rest[:-1]
    if not rest:
        return ScheduleCommand(channel=channel)
    if len(rest) != 2:
        raise UserError("give a weekday and a time, like `monday 09:00`", usage)
    weekday = parse_weekday(rest[0].text)
    if weekday is None:
        raise UserError(f"`{rest[0].text}` is not a weekday", usage)
    local_time = parse_local_time(rest[1].text)
    if local_time is None:
        raise UserError(f"`{rest[1].text}` is not a time like `09:00` (24-hour clock)", usage)
    return ScheduleCommand(weekday, local_time, channel)
