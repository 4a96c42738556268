"""Match a CPU model name against the bundled rated-TDP table, and cache the match on disk.

The table (``carbontrail/data/cpu_tdp.csv``, 4,918 models, watts; source and licence in
``SOURCE-cpu_tdp.md``) names CPUs as marketed (``Intel Core i7-8700``, ``AMD EPYC 7763``), while
``/proc/cpuinfo`` says ``Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz`` or ``AMD EPYC 7763 64-Core
Processor``. :func:`match_cpu` normalises both sides (drops ``(R)``, ``(TM)``, clock speeds,
``CPU``, ``Processor``, ``N-Core``, ``Nth Gen``) and then tries, in order:

1. ``exact``: equal normalised names;
2. ``tokens``: table entries whose tokens are all in the model name and that share its model
   number (a token with a digit, e.g. ``i7-8700``); the most specific (most tokens) wins;
3. ``fuzzy``: entries sharing a model-number token, ranked by :class:`difflib.SequenceMatcher`
   ratio, accepted at >= 0.85.

A name without a model number (``AMD EPYC`` as some hypervisors report it) is never guessed:
it gives no match, and the caller uses a default power with a wide band.

Matching costs a few milliseconds (the table is indexed by model-number token); the result is
still cached per model name in a small JSON file (:func:`cached_match`) so a fresh process reads
one file instead of parsing the table.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["TABLE_PATH", "CpuMatch", "cached_match", "default_cache_dir", "load_table", "match_cpu"]

TABLE_PATH = Path(__file__).resolve().parent.parent / "data" / "cpu_tdp.csv"
TABLE_SOURCE = "codecarbon 3.3.2 cpu_power.csv (Intel ARK / AMD product pages), MIT"
#: bump when the matching rules change, so cached matches are redone
MATCHER_VERSION = 1
FUZZY_CUTOFF = 0.85

_DROP = re.compile(
    r"\(r\)|\(tm\)|®|™|@\s*[\d.]+\s*[gm]hz|\b[\d.]+\s*[gm]hz\b|\b\d+-core\b|\b\d+(st|nd|rd|th)\s+gen\b"
    r"|\bcpu\b|\bprocessor\b|\bwith radeon graphics\b|\bwith radeon vega graphics\b"
)
_SPLIT = re.compile(r"[^a-z0-9+\-]+")


@dataclass(frozen=True, slots=True)
class CpuMatch:
    """Outcome of matching one CPU model name.

    Attributes:
        model: the model name that was matched (as given).
        name: the table entry chosen, or None when nothing matched.
        tdp_w: its rated TDP in watts, or None.
        how: ``exact``, ``tokens``, ``fuzzy`` or ``none``.
        score: similarity in [0, 1] (1.0 for exact and token matches).
        note: why there is no match, or which alternatives were close.
    """

    model: str
    name: str | None
    tdp_w: float | None
    how: str
    score: float
    note: str = ""


def normalise(name: str) -> tuple[str, ...]:
    """Lower-case tokens of a CPU name without trademarks, clock speeds and filler words."""
    text = _DROP.sub(" ", name.lower())
    return tuple(t for t in _SPLIT.split(text) if t and t not in {"-", "+"})


def _model_tokens(tokens: tuple[str, ...]) -> set[str]:
    return {t for t in tokens if any(c.isdigit() for c in t)}


_DIGITS = re.compile(r"\d{3,}")


def _number_keys(tokens: tuple[str, ...]) -> set[str]:
    """Model-number tokens plus their digit runs of 3+ (``i7-8700k`` -> ``8700``) for fuzzy lookup."""
    keys = _model_tokens(tokens)
    return keys | {"#" + d for t in keys for d in _DIGITS.findall(t)}


@lru_cache(maxsize=4)
def load_table(path: str | None = None) -> tuple[tuple[str, float], ...]:
    """Rows ``(name, tdp_w)`` of the TDP table (bundled one by default). Bad rows are skipped."""
    import csv

    rows: list[tuple[str, float]] = []
    with open(path or TABLE_PATH, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            try:
                tdp = float(row["TDP"])
            except (KeyError, TypeError, ValueError):
                continue
            if tdp > 0 and row.get("Name"):
                rows.append((row["Name"].strip(), tdp))
    return tuple(rows)


@lru_cache(maxsize=4)
def _index(
    table: tuple[tuple[str, float], ...],
) -> tuple[dict[tuple[str, ...], int], dict[str, list[int]], list[tuple[str, ...]]]:
    exact: dict[tuple[str, ...], int] = {}
    by_number: dict[str, list[int]] = {}
    norm: list[tuple[str, ...]] = []
    for i, (name, _) in enumerate(table):
        toks = normalise(name)
        norm.append(toks)
        exact.setdefault(toks, i)
        for t in _number_keys(toks):
            by_number.setdefault(t, []).append(i)
    return exact, by_number, norm


def match_cpu(model: str, table: tuple[tuple[str, float], ...] | None = None) -> CpuMatch:
    """Find the TDP table entry for a CPU model name (see the module docstring for the rules)."""
    table = load_table() if table is None else table
    exact, by_number, norm = _index(table)
    toks = normalise(model)
    if not toks:
        return CpuMatch(model, None, None, "none", 0.0, "empty model name")
    if toks in exact:
        i = exact[toks]
        return CpuMatch(model, table[i][0], table[i][1], "exact", 1.0)
    numbers = _model_tokens(toks)
    if not numbers:
        return CpuMatch(
            model,
            None,
            None,
            "none",
            0.0,
            "model name has no model number (a family name only, as some hypervisors report); not guessed",
        )
    tokset = set(toks)
    same_number = sorted({i for t in numbers for i in by_number.get(t, ())})
    subset = [i for i in same_number if set(norm[i]) <= tokset]
    if subset:
        best_len = max(len(norm[i]) for i in subset)
        best = [i for i in subset if len(norm[i]) == best_len]
        i = best[0]
        note = ""
        if len({table[j][1] for j in best}) > 1:
            note = "equally specific entries with different TDP: " + ", ".join(
                f"{table[j][0]} ({table[j][1]:g} W)" for j in best
            )
        return CpuMatch(model, table[i][0], table[i][1], "tokens", 1.0, note)
    import difflib

    candidates = sorted({i for t in _number_keys(toks) for i in by_number.get(t, ())})
    target = " ".join(toks)
    scored = sorted(
        ((difflib.SequenceMatcher(None, target, " ".join(norm[i])).ratio(), i) for i in candidates),
        reverse=True,
    )
    if scored and scored[0][0] >= FUZZY_CUTOFF:
        score, i = scored[0]
        return CpuMatch(model, table[i][0], table[i][1], "fuzzy", round(score, 4))
    close = ", ".join(table[i][0] for _, i in scored[:3])
    return CpuMatch(
        model,
        None,
        None,
        "none",
        round(scored[0][0], 4) if scored else 0.0,
        f"no table entry close enough (cutoff {FUZZY_CUTOFF})" + (f"; closest: {close}" if close else ""),
    )


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/carbontrail`` or ``~/.cache/carbontrail``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "carbontrail"


def _table_key(path: Path) -> str:
    st = path.stat()
    return f"v{MATCHER_VERSION}:{st.st_size}:{int(st.st_mtime)}"


def cached_match(
    model: str, cache_dir: str | Path | None = None, table_path: str | Path | None = None
) -> CpuMatch:
    """:func:`match_cpu` with an on-disk cache shared by processes (``cpu_match.json``).

    The cache is keyed by model name and by the table file's size and mtime and the matcher
    version, so a changed table or rule redoes the match. A cache that cannot be read or written
    (read-only home, corrupt file) is ignored with a debug log: the match is then recomputed.
    """
    tpath = Path(table_path) if table_path is not None else TABLE_PATH
    cdir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cfile = cdir / "cpu_match.json"
    key = _table_key(tpath)
    data: dict[str, dict[str, object]] = {}
    try:
        with open(cfile, encoding="utf-8") as fh:
            loaded = json.load(fh)
        if (
            isinstance(loaded, dict)
            and loaded.get("table") == key
            and isinstance(loaded.get("matches"), dict)
        ):
            data = loaded["matches"]
            hit = data.get(model)
            if isinstance(hit, dict):
                return CpuMatch(**hit)  # type: ignore[arg-type]
    except (OSError, ValueError, TypeError) as exc:
        logger.debug("cpu match cache %s not usable: %s", cfile, exc)
    m = match_cpu(model, load_table(str(tpath)))
    data = {**data, model: asdict(m)}
    try:
        import tempfile

        cdir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cdir, prefix=".cpu_match.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"table": key, "matches": data}, fh)
        os.replace(tmp, cfile)
    except OSError as exc:
        logger.debug("cannot write cpu match cache %s: %s", cfile, exc)
    return m
