"""Benchmark the DM check-in grammar: time per line on random and adversarial lines.

    .venv/bin/python bench/dm_parser.py [--lines 10000] [--seed 7] [--repeat 5]

Reads `--lines` lines (half random text, half adversarial: long digit runs, comma
and exponent chains, repeated ids, statuses, `conf` words, shortcodes, title
prefixes shared by many long titles), each up to 4,000 characters, with
`parse_dm_reply` against 20 key results whose 500-character titles share long
prefixes, then checks each value as the service does (`parse_value`). Prints the
mean, p99 and worst time per line, then, per adversarial shape, the
median time at 500, 1,000, 2,000 and 4,000 characters and the ratio per doubling
(about 2 when linear). The exit status is 1 when the worst line takes 1 ms or more.

Times are this thread's CPU time (`time.thread_time_ns`): the parser does no I/O,
and a shared machine's wall clock also counts other processes. A line's cost is
deterministic but a preemption can still land inside one: the 200 slowest
lines of the first pass are timed again, best of `--repeat` (timeit's rule: the
minimum is the cost, the rest is other processes), and both figures are printed.
The garbage collector is off while timing, as in timeit.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import random
import statistics
import string
import sys
import time
from collections.abc import Callable

from bot.checkins.dm import Candidate, parse_dm_reply, parse_value
from bot.core.errors import UserError

LENGTHS = (500, 1000, 2000, 4000)
BUDGET_MS = 1.0


def candidates() -> list[Candidate]:
    """20 key results: long titles sharing long prefixes, the worst case for prefixes."""
    shared = "weekly active teams in the growth segment " * 8
    kinds = ["number", "boolean", "number", "number"]
    units = ["teams", None, "s", "USD"]
    return [
        Candidate(n, (shared + f"variant {n} " + "x" * 100)[:500], kinds[n % 4], units[n % 4])
        for n in range(1, 21)
    ]


def _repeat(piece: str) -> Callable[[int], str]:
    return lambda length: (piece * (length // len(piece) + 1))[:length]


ADVERSARIAL: dict[str, Callable[[int], str]] = {
    "digits": lambda n: "KR-1 " + "9" * (n - 5),
    "thousands commas": lambda n: "KR-1 " + _repeat("1,")(n - 5),
    "decimal chain": lambda n: "KR-1 " + _repeat("1.")(n - 5),
    "exponents": lambda n: "KR-1 " + _repeat("1e")(n - 5),
    "ids": _repeat("KR-1 "),
    "kr digits": lambda n: "kr" + "1" * (n - 2),
    "statuses": lambda n: "KR-1 5 " + _repeat("at risk ")(n - 7),
    "conf words": lambda n: "KR-1 5 " + _repeat("conf ")(n - 7),
    "confidence slashes": lambda n: "KR-1 5 " + _repeat("conf 7/")(n - 7),
    "separators": lambda n: "KR-1 5" + _repeat(" · ,;-—:")(n - 6),
    "shortcodes": _repeat(":+1:"),
    "colons": _repeat(":"),
    "currency": lambda n: "KR-4 " + _repeat("$")(n - 5),
    "title prefix": _repeat("weekly active teams in the growth segment "),
    "no words": _repeat("no "),
    "not done": lambda n: "KR-2 " + _repeat("not done ")(n - 5),
    "quotes": lambda n: "KR-1 5 — " + _repeat("“")(n - 9),
    "units": lambda n: "KR-3 1.6 " + _repeat("s ")(n - 9),
}


def random_line(rng: random.Random) -> str:
    length = rng.choice([rng.randint(1, 40), rng.randint(1, 400), rng.randint(1, 4000)])
    alphabet = rng.choice(
        [
            string.printable.replace("\n", "").replace("\r", ""),
            "0123456789,._ $%kMe+-",
            "KRkr-= :0123456789 ",
            "abcdefghijklmnopqrstuvwxyz ·—“”:,",
            "äöüßİıﬁ€£¥−😀👍\u200d\u0301",
        ]
    )
    return "".join(rng.choice(alphabet) for _ in range(length))


def adversarial_line(rng: random.Random) -> str:
    shape = rng.choice(list(ADVERSARIAL.values()))
    return shape(rng.randint(1, 4000))[:4000]


def read(line: str, owned: list[Candidate], by_number: dict[int, Candidate]) -> None:
    """What the service does with a line short of the database: parse, then each value."""
    reply = parse_dm_reply(line, owned, owned[:1])
    for parsed in reply.entries:
        number = parsed.entry.key_result_number
        kr = by_number.get(number) if number is not None else None
        if kr is not None and parsed.entry.raw_value is not None:
            with contextlib.suppress(UserError):
                parse_value(parsed.entry.raw_value, kr)


def time_line(line: str, owned: list[Candidate], by_number: dict[int, Candidate]) -> float:
    """CPU time of this thread in ms: the parser does no I/O, and on a shared machine the
    wall clock also counts the time other processes hold the cores."""
    start = time.thread_time_ns()
    read(line, owned, by_number)
    return (time.thread_time_ns() - start) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    owned = candidates()
    by_number = {c.number: c for c in owned}
    lines = [random_line(rng) if i % 2 else adversarial_line(rng) for i in range(args.lines)]
    for line in lines[:200]:  # warm up
        read(line, owned, by_number)
    gc.collect()
    gc.disable()  # as timeit does: a collection of the whole heap is not the parser's time
    timings = [(time_line(line, owned, by_number), line) for line in lines]
    # The slowest lines again, best of --repeat, so one preemption does not count as a line.
    slowest = sorted(timings, key=lambda t: t[0], reverse=True)[:200]
    first_pass_worst = slowest[0][0]
    rechecked = {
        line: min(time_line(line, owned, by_number) for _ in range(args.repeat))
        for _, line in slowest
    }
    per_line = [rechecked.get(line, ms) for ms, line in timings]
    worst_ms = max(per_line)
    worst_line = max(timings, key=lambda t: rechecked.get(t[1], t[0]))[1]
    print(f"DM parser: {len(lines):,} lines ({args.lines // 2:,} adversarial), up to 4,000 chars")
    print(f"  mean {statistics.fmean(per_line) * 1000:.1f} µs per line")
    print(f"  p99  {statistics.quantiles(per_line, n=100)[98] * 1000:.1f} µs per line")
    print(
        f"  worst {worst_ms * 1000:.1f} µs per line "
        f"({len(worst_line):,} chars, starts {worst_line[:24]!r})"
    )
    print(f"  (first pass, one run each, preemptions included: worst {first_pass_worst:.2f} ms)")
    total_chars = sum(len(line) for line in lines)
    print(f"  throughput {total_chars / (sum(per_line) / 1000) / 1e6:.1f} M chars/s")
    print()
    print("Linearity: median µs per line at each length (ratio per doubling)")
    print(f"  {'shape':20}" + "".join(f"{n:>10,}" for n in LENGTHS) + "   ratios")
    worst_ratio = 0.0
    for name, shape in ADVERSARIAL.items():
        medians = []
        for length in LENGTHS:
            line = shape(length)[:length]
            samples = [time_line(line, owned, by_number) for _ in range(max(args.repeat, 5) * 4)]
            medians.append(statistics.median(samples) * 1000)
        ratios = [b / a for a, b in zip(medians, medians[1:], strict=False) if a > 0]
        worst_ratio = max([worst_ratio, *ratios])
        shown = "".join(f"{m:>10.1f}" for m in medians)
        print(f"  {name:20}{shown}   " + " ".join(f"{r:.2f}" for r in ratios))
    gc.enable()
    print(f"  highest ratio per doubling: {worst_ratio:.2f} (2.00 is linear, 4.00 quadratic)")
    ok = worst_ms < BUDGET_MS
    verdict = "OK" if ok else "OVER"
    print(f"\nworst {worst_ms:.3f} ms per line against the {BUDGET_MS:g} ms aim: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
