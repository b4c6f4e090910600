"""The check-in DM grammar, forgiving of how people write (pure).

One line is one update: a key result (`KR-4`, `kr4`, `KR 4`, `kr-4`, or a unique
prefix of the title of one of the sender's key results; none when only one is
pending), an optional `=`/`:`/`-`, a value (`42`, `1.6 s`, `45%`, `$50,000`,
`1.2M`, `1,8`, `done`/`not done`/`yes`/`no`, or `same`/`no change`), a status and
confidence in any order, and a note after a comma, colon, dash or just a space.
The form the bot prints (`150 teams · at risk · confidence 7/10 — “note”`) reads
back as what it says.

Each line is read on its own, so a reply stores its good lines and names each bad
one with the reason. The scanner walks each line once from left to right; the only
look-back is over title prefixes, bounded by the longest title, so the time is
linear in the length of the text.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bot.core.errors import UserError
from bot.core.numbers import CURRENCIES, SIGNS, parse_number, scan_number, singular_unit

_STATUS_WORDS = {
    "on track": "on_track",
    "on-track": "on_track",
    "on_track": "on_track",
    "ontrack": "on_track",
    "at risk": "at_risk",
    "at-risk": "at_risk",
    "at_risk": "at_risk",
    "atrisk": "at_risk",
    "off track": "off_track",
    "off-track": "off_track",
    "off_track": "off_track",
    "offtrack": "off_track",
}
# Longest first, so `not done yet` wins over `not done` and `no change` over `no`.
_BOOLEAN_WORDS = [
    ("not done yet", 0.0),
    ("not done", 0.0),
    ("not yet", 0.0),
    ("completed", 1.0),
    ("complete", 1.0),
    ("false", 0.0),
    ("done", 1.0),
    ("true", 1.0),
    ("yes", 1.0),
    ("no", 0.0),
]
_NO_CHANGE_WORDS = ("no change", "unchanged", "nochange", "same")
_CONFIDENCE_WORDS = ("confidence", "conf")
# What may stand between the parts of a line (the bot prints ` · `).
_GAP = " \t,;·•|"
# What may introduce a note: `, going well`, `: hiring slipped`, `— “note”`.
_NOTE_LEAD = " \t,;:·•|-\u2013\u2014"
_QUOTES = {"\u201c": "\u201d", '"': '"', "\u2018": "\u2019", "'": "'"}
# A title prefix shorter than this is too likely to be a word like `no` or `ok`.
TITLE_PREFIX_MIN = 3
# One message carries at most this many check-ins (a reply names each bad line).
MAX_LINES = 50

_SMALL_TALK_GREETINGS = {"hi", "hello", "hey", "hiya", "good morning", "morning", "yo"}
_SMALL_TALK_THANKS = {
    "thanks",
    "thank you",
    "thanks a lot",
    "thank you so much",
    "thx",
    "ty",
    "ok",
    "okay",
    "k",
    "kk",
    "cool",
    "great",
    "nice",
    "got it",
    "sure",
    "perfect",
    "awesome",
    "",  # only emoji, like 👍 or :+1:
}
_HELP_WORDS = {"help", "?", "usage", "how"}

DM_HELP = (
    "Reply with a value, optionally for one key result and with a status and note, e.g. "
    "`42`, `KR-4 42`, `KR-4 done, shipped` or `KR-4 42 at risk: hiring slipped` "
    "(one per line; `same` for no change)."
)


@dataclass(frozen=True)
class Entry:
    """One key result's update, before validation against its kind."""

    key_result_number: int | None
    raw_value: str | None = None
    status: str | None = None
    confidence: int | None = None
    note: str | None = None
    # `same` / `no change`: answered for the period, the value left as it is.
    no_change: bool = False


@dataclass(frozen=True)
class Candidate:
    """What the grammar needs to know about one of the sender's key results."""

    number: int
    title: str
    kind: str
    unit: str | None = None


@dataclass(frozen=True)
class LineProblem:
    """A line that was not stored, with why, as the sender will read it."""

    line: int
    text: str
    reason: str


@dataclass(frozen=True)
class ParsedLine:
    line: int
    text: str
    entry: Entry


@dataclass
class Reply:
    """A DM read line by line: what to store, and what was not understood."""

    entries: list[ParsedLine] = field(default_factory=list)
    problems: list[LineProblem] = field(default_factory=list)


def parse_status(text: str | None) -> str | None:
    if not text:
        return None
    normalized = " ".join(text.strip().lower().split())
    return _STATUS_WORDS.get(normalized) or _STATUS_WORDS.get(normalized.replace(" ", "_"))


def _strip_emoji(text: str) -> str:
    """The text without `:shortcodes:` and pictographs (Slack sends 👍 as `:+1:`)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == ":":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] in "_+-'"):
                j += 1
            if j < n and j > i + 1 and text[j] == ":":
                i = j + 1
                continue
        if unicodedata.category(ch) not in {"So", "Sk", "Mn", "Cf"}:
            out.append(ch)
        i += 1
    return "".join(out)


def small_talk(text: str) -> str | None:
    """`greeting`, `thanks` or `help` when the whole text is just that, else None."""
    if len(text) > 60 or not text.strip():
        return None
    if text.strip() == "?":
        return "help"
    plain = " ".join(_strip_emoji(text).lower().split()).strip(" !.,?:;)(")
    if plain in _HELP_WORDS:
        return "help"
    first, _, rest = plain.partition(" ")
    if plain in _SMALL_TALK_GREETINGS or (
        first in {"hi", "hello", "hey"} and len(rest.split()) <= 2 and not _has_digit(rest)
    ):
        return "greeting"
    if plain in _SMALL_TALK_THANKS:
        return "thanks"
    return None


def _has_digit(text: str) -> bool:
    return any(ch in "0123456789" for ch in text)


def _key_result_id(line: str) -> tuple[int, int] | None:
    """`KR-5`, `kr5`, `KR 5`, `kr_5`, `#KR-5` at the start: (number, end) or None."""
    i = 1 if line.startswith("#") else 0
    if line[i : i + 2].lower() != "kr":
        return None
    i += 2
    if i < len(line) and line[i] in " -_":
        i += 1
    j = i
    while j < len(line) and line[j] in "0123456789" and j - i < 10:
        j += 1
    if j == i or j - i > 9 or (j < len(line) and (line[j].isalnum() or line[j] == "_")):
        return None
    return int(line[i:j]), j


def _word_at(lowered: str, i: int, word: str) -> bool:
    """`word` at `i`, ending where a word ends (so `no` is not the start of `note`)."""
    end = i + len(word)
    return lowered.startswith(word, i) and (end >= len(lowered) or not lowered[end].isalnum())


_RUNS: dict[str, re.Pattern[str]] = {}


def _skip(text: str, i: int, chars: str) -> int:
    """Past a run of `chars` from `i` (a one-class regex: linear, no backtracking)."""
    run = _RUNS.get(chars)
    if run is None:
        run = _RUNS[chars] = re.compile(f"[{re.escape(chars)}]*")
    found = run.match(text, i)
    return found.end() if found else i


def _status_at(lowered: str, i: int) -> tuple[str, int] | None:
    for first in ("on", "at", "off"):
        if not lowered.startswith(first, i):
            continue
        j = i + len(first)
        if j < len(lowered) and lowered[j] in " -_":
            j = _skip(lowered, j, " -_")
        rest = "track" if first != "at" else "risk"
        if _word_at(lowered, j, rest):
            return _STATUS_WORDS[f"{first} {rest}"], j + len(rest)
    return None


def _confidence_at(lowered: str, i: int) -> tuple[int, int] | None:
    """`confidence 7`, `conf: 7/10`, `7/10` at `i`: (value, end)."""
    j = i
    for word in _CONFIDENCE_WORDS:
        if lowered.startswith(word, i):
            j = _skip(lowered, i + len(word), " :=")
            break
    k = j
    while k < len(lowered) and lowered[k] in "0123456789" and k - j < 4:
        k += 1
    if k == j:
        return None
    end = k
    slash = _skip(lowered, k, " ")
    if lowered.startswith("/", slash):
        ten = _skip(lowered, slash + 1, " ")
        if not _word_at(lowered, ten, "10"):
            return None
        end = ten + 2
    elif j == i:
        return None  # a bare number is a value, not a confidence
    if end < len(lowered) and lowered[end].isalnum():
        return None
    return int(lowered[j:k]), end


def _unquote(note: str) -> str:
    if len(note) >= 2 and note[0] in _QUOTES and note[-1] == _QUOTES[note[0]]:
        return note[1:-1].strip()
    return note


@dataclass(frozen=True)
class _Rest:
    raw_value: str | None
    status: str | None
    confidence: int | None
    note: str | None
    no_change: bool


def _unit_end(line: str, lowered: str, i: int, unit: str | None) -> int:
    """Past the key result's unit (its plural, or its singular as `1 team` shows it) or a
    `%`/currency after a value."""
    j = _skip(line, i, " ")
    if j < len(line) and (line[j] == "%" or line[j] in CURRENCIES):
        return j + 1
    if unit:
        wanted = unit.strip().lower()
        for form in (wanted + "s", wanted, singular_unit(wanted) or ""):
            if form and lowered.startswith(form, j):
                end = j + len(form)
                if end >= len(line) or not (line[end].isalnum() or line[end] == "_"):
                    return end
    return i


def _read_rest(
    line: str, start: int, kind: str | None, unit: str | None, label: str = "the line"
) -> _Rest:
    """Everything after the key result: value, unit, status, confidence, note."""
    lowered = line.lower()
    i = _skip(line, start, " \t")
    if i < len(line) and line[i] in "=:":
        i = _skip(line, i + 1, " \t")
    elif (
        i < len(line) and line[i] in "-\u2013\u2014" and (i + 1 >= len(line) or line[i + 1] == " ")
    ):
        i = _skip(line, i + 1, " \t")  # `KR-4 - 42`, but `KR-4 -3` is minus three
    raw_value: str | None = None
    no_change = False
    for word in _NO_CHANGE_WORDS:
        if _word_at(lowered, i, word):
            no_change, i = True, i + len(word)
            break
    if not no_change:
        for word, _ in _BOOLEAN_WORDS:
            if _word_at(lowered, i, word):
                raw_value, i = word, i + len(word)
                break
    if not no_change and raw_value is None and _status_at(lowered, i) is None:
        scanned = scan_number(line, i)
        if scanned is not None and (
            scanned.end >= len(line)
            or not (line[scanned.end].isalnum() or line[scanned.end] == "_")
        ):
            raw_value = line[i : scanned.end]
            i = _unit_end(line, lowered, scanned.end, unit)
        elif scanned is not None and unit:
            end = _unit_end(line, lowered, scanned.end, unit)
            if end > scanned.end:  # `1.6s`
                raw_value, i = line[i : scanned.end], end
    status: str | None = None
    confidence: int | None = None
    while True:
        j = _skip(line, i, _GAP)
        if status is None and (found := _status_at(lowered, j)) is not None:
            status, i = found
            continue
        if confidence is None and (conf := _confidence_at(lowered, j)) is not None:
            confidence, i = conf
            continue
        break
    note = _unquote(line[_skip(line, i, _NOTE_LEAD) :].strip()) or None
    if raw_value is None and not no_change and status is None:
        word = line[i:].split(maxsplit=1)[0][:20].replace("`", "'") if line[i:].strip() else ""
        instead = f", not `{word}`" if word else ""
        if kind == "boolean":
            raise UserError(f"{label} is done or not: answer `done`, `not done` or `same`{instead}")
        raise UserError(
            f"{label} needs a number, `same` or a status (on track, at risk, off track){instead}"
        )
    return _Rest(raw_value, status, confidence, note, no_change)


def _title_match(
    line: str, candidates: Sequence[Candidate]
) -> tuple[Candidate, int] | list[Candidate] | None:
    """The key result whose title the line starts with (a unique prefix ending where a
    word of the line ends), with where the prefix ends; the candidates when ambiguous.

    One common-prefix walk per title, bounded by the title's length."""
    if not candidates:
        return None
    longest = max(len(c.title) for c in candidates)
    head = line[: longest + 1]
    lowered = head.lower()
    if len(lowered) != len(head):
        return None  # a letter whose lower case is longer: no safe offsets, use the id
    shared = [(c, _common_prefix(_lowered(c.title), lowered)) for c in candidates]
    end = max(k for _, k in shared)
    while end > 0 and end < len(lowered) and lowered[end].isalnum():
        end -= 1  # back to where a word of the line ends
    prefix_length = len(lowered[:end].rstrip())
    if prefix_length < TITLE_PREFIX_MIN:
        return None
    matching = [c for c, k in shared if k >= prefix_length]
    if len(matching) > 1:
        return matching
    return matching[0], end


@functools.lru_cache(maxsize=4096)
def _lowered(title: str) -> str:
    return title.lower()


def _common_prefix(a: str, b: str) -> int:
    """The length of the common prefix of `a` and `b`, by bisection on `startswith`
    (each probe a C-level comparison: O(n log n) at worst, no Python loop per char);
    0 when it is shorter than a title prefix may be."""
    if min(len(a), len(b)) < TITLE_PREFIX_MIN or not b.startswith(a[:TITLE_PREFIX_MIN]):
        return 0
    low, high = TITLE_PREFIX_MIN, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if b.startswith(a[:middle]):
            low = middle
        else:
            high = middle - 1
    return low


def parse_line(
    line: str,
    owned: Sequence[Candidate],
    pending: Sequence[Candidate],
    *,
    alone: bool,
) -> tuple[Entry, Candidate | None]:
    """One line: its entry and the sender's key result it is for (None when the id is not
    one of theirs; the caller says whose it is). Raises UserError with the reason."""
    text = line.strip()
    target: Candidate | None = None
    number: int | None = None
    start = 0
    if (found := _key_result_id(text)) is not None:
        number, start = found
        target = next((c for c in owned if c.number == number), None)
    elif not _starts_with_value(text):
        match = _title_match(text, owned)
        if isinstance(match, list):
            ids = ", ".join(f"KR-{c.number}" for c in match)
            raise UserError(f"that title fits more than one of yours ({ids}): start with the id")
        if match is not None:
            target, start = match
            number = target.number
    if number is None:
        if not owned:
            raise UserError("you own no active key results to check in on")
        if len(pending) != 1 or not alone:
            candidates = pending or owned
            ids = ", ".join(f"KR-{c.number}" for c in candidates)
            raise UserError(
                "which key result is that for? Start the line with its id, "
                f"like `KR-{candidates[0].number} {text[:20].replace('`', '')}` (yours: {ids})"
            )
        target = pending[0]
    rest = _read_rest(
        text,
        start,
        target.kind if target else None,
        target.unit if target else None,
        f"KR-{number if number is not None else (target.number if target else '?')}",
    )
    entry = Entry(
        key_result_number=number if number is not None else (target.number if target else None),
        raw_value=rest.raw_value,
        status=rest.status,
        confidence=rest.confidence,
        note=rest.note,
        no_change=rest.no_change,
    )
    if target is not None and rest.raw_value is not None:
        parse_value(rest.raw_value, target)  # the reason now, for this line
    return entry, target


def _starts_with_value(text: str) -> bool:
    lowered = text.lower()
    if any(_word_at(lowered, 0, w) for w in _NO_CHANGE_WORDS):
        return True
    if any(_word_at(lowered, 0, w) for w, _ in _BOOLEAN_WORDS):
        return True
    if _status_at(lowered, 0) is not None:
        return True
    return bool(text) and (text[0] in "0123456789.+" or text[0] in SIGNS or text[0] in CURRENCIES)


def _all_unchanged(line: str, pending: Sequence[Candidate]) -> list[Entry] | None:
    """`same` (or `no change`, with an optional status and note) without an id: no
    change for every key result still pending; None for any other line."""
    lowered = line.lower()
    if not any(_word_at(lowered, 0, word) for word in _NO_CHANGE_WORDS):
        return None
    rest = _read_rest(line, 0, None, None)
    return [
        Entry(c.number, None, rest.status, rest.confidence, rest.note, no_change=True)
        for c in pending
    ]


def parse_dm_reply(
    text: str, owned: Sequence[Candidate] = (), pending: Sequence[Candidate] | None = None
) -> Reply:
    """Every non-empty line of a DM, read on its own; small talk lines are passed over.

    Lines are what the person typed on separate lines (`\n`, as Slack sends them), not
    every Unicode line break; past `MAX_LINES` the rest is named once, not read."""
    lines = [(n, line.strip()) for n, line in enumerate(text.split("\n"), start=1)]
    lines = [(n, line) for n, line in lines if line and small_talk(line) is None]
    pending_list = list(owned if pending is None else pending)
    reply = Reply()
    if len(lines) > MAX_LINES:
        number, line = lines[MAX_LINES]
        reason = f"I read up to {MAX_LINES} lines per message: send the rest in another one"
        reply.problems.append(LineProblem(number, line, reason))
        lines = lines[:MAX_LINES]
    if len(lines) == 1 and len(pending_list) > 1:
        everything = _all_unchanged(lines[0][1], pending_list)
        if everything is not None:
            reply.entries.extend(ParsedLine(lines[0][0], lines[0][1], e) for e in everything)
            return reply
    for number, line in lines:
        try:
            entry, _ = parse_line(line, owned, pending_list, alone=len(lines) == 1)
        except UserError as exc:
            reply.problems.append(LineProblem(number, line, exc.message))
            continue
        reply.entries.append(ParsedLine(number, line, entry))
    return reply


class Measured(Protocol):
    """What a value is checked against: a `Candidate` or a stored key result."""

    @property
    def number(self) -> int: ...

    @property
    def kind(self) -> str: ...

    @property
    def unit(self) -> str | None: ...


def parse_value(raw: str, key_result: Measured) -> float:
    """A number the key result's kind allows (its unit may follow); a boolean takes
    done/not done/yes/no or 1/0."""
    text = raw.strip().lower()
    label = f"KR-{key_result.number}"
    if key_result.kind == "boolean":
        for word, value in _BOOLEAN_WORDS:
            if text == word:
                return value
        if text in {"0", "1", "0.0", "1.0"}:
            return float(text)
        raise UserError(f"{label} is done or not: answer `done` or `not done` (or 1 / 0)")
    if any(text == word for word, _ in _BOOLEAN_WORDS):
        raise UserError(f"{label} takes a number, not `{raw.strip()}`")
    unit = key_result.unit
    cleaned = raw.strip()
    if unit and cleaned.lower().endswith(unit.lower()) and len(cleaned) > len(unit):
        cleaned = cleaned[: -len(unit)].strip()
    return parse_number(cleaned, label)


def validate_confidence(confidence: int | None) -> int | None:
    if confidence is not None and not 0 <= confidence <= 10:
        raise UserError(f"confidence is from 0 to 10, not {confidence}")
    return confidence
