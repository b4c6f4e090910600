"""The collector settings a serving process runs with (checked in a fresh interpreter,
so this test process's own collector is left as it is)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

PROBE = """
import gc, json
from bot.runtime.heap import YOUNG_COLLECTION_THRESHOLD, settle_heap_for_serving
before = gc.get_threshold()
settle_heap_for_serving()
print(json.dumps({"before": before, "after": gc.get_threshold(),
                  "young": YOUNG_COLLECTION_THRESHOLD, "frozen": gc.get_freeze_count()}))
"""


def test_serving_freezes_start_up_and_collects_young_objects_less_often() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    seen = json.loads(done.stdout)
    assert seen["frozen"] > 1000  # start-up's objects are out of the collector's sight
    assert seen["after"][0] == seen["young"] > seen["before"][0]
    assert seen["after"][1:] == seen["before"][1:]  # older generations as CPython has them
