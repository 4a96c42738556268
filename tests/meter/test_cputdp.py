"""TDP table matching and the on-disk match cache shared across processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from carbontrail.meter.cputdp import TABLE_PATH, cached_match, load_table, match_cpu, normalise

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.mark.parametrize(
    ("model", "name", "tdp_w"),
    [
        ("Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz", "Intel Core i7-8700", 65.0),
        ("Intel(R) Core(TM) i7-8700K CPU @ 3.70GHz", "Intel Core i7-8700K", 95.0),
        ("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", "Intel Xeon Platinum 8375C", 300.0),
        ("Intel(R) Xeon(R) CPU E5-2686 v4 @ 2.30GHz", "Intel Xeon E5-2686 v4", 145.0),
        ("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", "Intel Xeon Gold 6248", 150.0),
        ("13th Gen Intel(R) Core(TM) i9-13900K", "Intel Core i9-13900K", 125.0),
        ("11th Gen Intel(R) Core(TM) i7-1165G7 @ 2.80GHz", "Intel Core i7-1165G7", 28.0),
        ("AMD EPYC 7763 64-Core Processor", "AMD EPYC 7763", 280.0),
        ("AMD EPYC 9654 96-Core Processor", "AMD EPYC 9654", 360.0),
        ("AMD Ryzen 9 5950X 16-Core Processor", "AMD Ryzen 9 5950X", 105.0),
        ("AMD Ryzen 7 PRO 5850U with Radeon Graphics", "AMD Ryzen 7 PRO 5850U", 15.0),
        ("Apple M2 Pro", "Apple M2 Pro", 35.0),
    ],
)
def test_known_models_match(model, name, tdp_w):
    m = match_cpu(model)
    assert (m.name, m.tdp_w) == (name, tdp_w)
    assert m.how in ("exact", "tokens")


def test_token_match_ignores_extra_words():
    m = match_cpu("Genuine Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz (engineering sample)")
    assert m.name == "Intel Xeon Platinum 8375C" and m.how == "tokens"


def test_fuzzy_match_on_a_near_model_number():
    m = match_cpu("Intel Xeon Platinum 8375")
    assert m.how == "fuzzy" and m.name == "Intel Xeon Platinum 8375C" and 0.85 <= m.score < 1


@pytest.mark.parametrize("model", ["AMD EPYC", "Intel Xeon Processor (Skylake, IBRS)", "Foo 1234", ""])
def test_no_guess_without_a_close_entry(model):
    m = match_cpu(model)
    assert m.name is None and m.tdp_w is None and m.how == "none" and m.note


def test_normalise_drops_marks_and_clocks():
    assert normalise("Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz") == ("intel", "core", "i7-8700")
    assert normalise("AMD EPYC 7763 64-Core Processor") == ("amd", "epyc", "7763")


def test_table_is_bundled_with_licence_and_source():
    rows = load_table()
    assert len(rows) > 4800
    assert all(tdp > 0 for _, tdp in rows)
    assert (TABLE_PATH.parent / "LICENSE-codecarbon-MIT").is_file()
    assert "cpu_tdp.csv" in (TABLE_PATH.parent / "SOURCE-cpu_tdp.md").read_text()


def test_bad_rows_are_skipped(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("Name,TDP\nGood CPU 1000,50\nBad CPU 2000,n/a\n,30\nNeg CPU 3000,-5\n")
    assert load_table(str(p)) == (("Good CPU 1000", 50.0),)


def _run(code: str, cache: Path) -> str:
    env = {**os.environ, "PYTHONPATH": SRC}
    res = subprocess.run(
        [sys.executable, "-c", code, str(cache)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    return res.stdout.strip()


def test_cache_is_shared_across_processes(tmp_path):
    cache = tmp_path / "cache"
    model = "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz"
    first = _run(
        "import sys; from carbontrail.meter.cputdp import cached_match\n"
        f"print(cached_match({model!r}, sys.argv[1]).tdp_w)",
        cache,
    )
    assert first == "150.0"
    stored = json.loads((cache / "cpu_match.json").read_text())
    assert stored["matches"][model]["name"] == "Intel Xeon Gold 6248"
    # a fresh process answers from the cache: the matcher and the table are never touched
    second = _run(
        "import sys\n"
        "import carbontrail.meter.cputdp as t\n"
        "def boom(*a, **k): raise AssertionError('matcher ran')\n"
        "t.match_cpu = boom\n"
        "t.load_table = boom\n"
        f"m = t.cached_match({model!r}, sys.argv[1])\n"
        "print(m.tdp_w, m.how, 'csv' in sys.modules)",
        cache,
    )
    assert second == "150.0 exact False"


def test_cache_is_redone_when_the_table_changes(tmp_path):
    table = tmp_path / "cpu.csv"
    shutil.copy(TABLE_PATH, table)
    cache = tmp_path / "cache"
    assert cached_match("Intel Core i7-8700", cache, table).tdp_w == 65.0
    with open(table, "a") as fh:
        fh.write("Intel Core i7-8700,99\n")  # a later duplicate does not change the first exact entry
    os.utime(table, (1, 1))
    data = json.loads((cache / "cpu_match.json").read_text())
    assert data["table"] != f"v1:{table.stat().st_size}:1"
    cached_match("Intel Core i7-8700", cache, table)
    assert json.loads((cache / "cpu_match.json").read_text())["table"] == f"v1:{table.stat().st_size}:1"


def test_corrupt_or_unwritable_cache_is_ignored(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "cpu_match.json").write_text("{not json")
    assert cached_match("AMD EPYC 7763", cache).tdp_w == 280.0
    assert json.loads((cache / "cpu_match.json").read_text())["matches"]["AMD EPYC 7763"]["tdp_w"] == 280.0
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where the cache folder should be: cannot write, still answers
    assert cached_match("AMD EPYC 7763", blocker / "sub").tdp_w == 280.0
