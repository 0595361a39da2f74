"""Twin questions: items whose normalised question (and, in the partial format, shared continuation) is
the same are one question, wherever they were ingested (TruthfulQA MC1 and MC2, a question repeated
across splits, files or benchmarks). The true answers of every twin are known-true answers of each:
never a negative for any of them.

Normalised question keys are cached in `question_keys` by the hash of the exact question text, so a
run normalises only questions it has not seen; the view `question_groups` lists the groups.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import polars as pl

from warehouse.text import norm_hash, normalize, text_hash

# The text an item is grouped by, in SQL; `question_text` is the same in Python (the view uses it too).
QUESTION_TEXT_SQL = (
    "CASE WHEN format = 'partial' THEN question || chr(10) || coalesce(continuation, '') ELSE question END"
)
QUESTION_KEY_SCHEMA = {
    "text_hash": pl.String,
    "group_key": pl.String,
    "normalized": pl.String,
    "computed_at": pl.Datetime("us"),
}


def question_text(question: str, format: str, continuation: str | None) -> str:
    """The text twins share: the question, and for the partial format the continuation every choice leads to."""
    return f"{question}\n{continuation or ''}" if format == "partial" else question


@dataclass
class QuestionGroups:
    """The twin groups that hold items of one benchmark, and the known-true answers they give each item."""

    known_true: dict[str, tuple[str, ...]] = field(default_factory=dict)  # item id -> true answers of its twins
    members: dict[str, list[str]] = field(default_factory=dict)  # group key -> item ids, for groups of 2 or more
    new_keys: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=QUESTION_KEY_SCHEMA))  # uncached keys

    def twins_of(self) -> dict[str, str]:
        """Item id -> its group key, for every item that has a twin."""
        return {item: key for key, items in self.members.items() for item in items}


def _uncached_keys(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    texts = [
        t
        for (t,) in con.execute(
            f"SELECT DISTINCT {QUESTION_TEXT_SQL} AS text FROM items "
            f"WHERE sha256({QUESTION_TEXT_SQL}) NOT IN (SELECT text_hash FROM question_keys)"
        ).fetchall()
    ]
    now = datetime.now()
    return pl.DataFrame(
        {
            "text_hash": [text_hash(t) for t in texts],
            "group_key": [norm_hash(t) for t in texts],
            "normalized": [normalize(t) for t in texts],
            "computed_at": [now] * len(texts),
        },
        schema=QUESTION_KEY_SCHEMA,
    )


def question_groups(con: duckdb.DuckDBPyConnection, benchmark: str) -> QuestionGroups:
    """Twin groups of the benchmark's items across the whole warehouse (any scope), and the keys not cached yet."""
    new_keys = _uncached_keys(con)
    con.register("fresh_question_keys", new_keys)
    try:
        rows = con.execute(
            f"""WITH keys AS (SELECT text_hash, group_key FROM question_keys
                              UNION ALL SELECT text_hash, group_key FROM fresh_question_keys),
                     keyed AS (SELECT i.item_id, i.benchmark, i.choices, i.gold, i.golds, k.group_key
                               FROM items i JOIN keys k ON k.text_hash = sha256({QUESTION_TEXT_SQL})),
                     twin_groups AS (SELECT group_key FROM keyed GROUP BY group_key
                                     HAVING count(*) > 1 AND bool_or(benchmark = ?))
                SELECT group_key, item_id, benchmark, choices, gold, golds FROM keyed JOIN twin_groups USING (group_key)
                ORDER BY group_key, item_id""",
            [benchmark],
        ).fetchall()
    finally:
        con.unregister("fresh_question_keys")
    members: dict[str, list[str]] = {}
    truths: dict[str, dict[str, str]] = {}  # group key -> norm hash -> first surface form of a true answer
    own: dict[str, set[str]] = {}  # item id -> norm hashes of its own true answers
    for key, item_id, _benchmark, choices, gold, golds in rows:
        members.setdefault(key, []).append(item_id)
        true = sorted({gold, *(golds or [])})
        hashes = {norm_hash(choices[g]): choices[g] for g in true}
        own[item_id] = set(hashes)
        for h, text in hashes.items():
            truths.setdefault(key, {}).setdefault(h, text)
    known = {}
    for key, item_ids in members.items():
        for item_id in item_ids:
            extra = tuple(text for h, text in truths[key].items() if h not in own[item_id])
            if extra:
                known[item_id] = extra
    return QuestionGroups(known, members, new_keys)
