"""Fan-out: scoring and plausibility grading of one benchmark split into chunks that run as steps of their own
give the rows one step gives."""

from __future__ import annotations

import math
from pathlib import Path

import dagster as dg
import pytest
from pipeline_runs import materialize_mining
from warehouse_checks import query

from likra.scoring.chunks import split_ids

# Every column but the run ids and timestamps, which differ between any two runs.
CHOICE_ROWS = "SELECT * EXCLUDE (score_run_id, scored_at) FROM choice_scores ORDER BY item_id, choice"
NEGATIVE_ROWS = "SELECT * EXCLUDE (mining_run_id) FROM graded_negatives ORDER BY item_id, norm_hash"


def test_chunks_are_consecutive_whole_runs_of_ids() -> None:
    ids = [f"q{i}" for i in range(10)]
    assert split_ids(ids, None) == [ids] and split_ids(ids, 10) == [ids] and split_ids([], 3) == [[]]
    assert split_ids(ids, 4) == [ids[:4], ids[4:8], ids[8:]]
    with pytest.raises(ValueError, match="at least 1"):
        split_ids(ids, 0)


def mine_demo(db: Path, model: str, chunk_items: int | None) -> dg.ExecuteInProcessResult:
    run_config = {
        "ops": {"base_scores": {"config": {"model": model, "chunk_items": chunk_items}}},
        "resources": {"mining": {"config": {"scorer_model": model, "k": 3, "chunk_items": chunk_items}}},
    }
    return materialize_mining("demo", db, run_config=run_config)


def same_rows(left: list[tuple], right: list[tuple]) -> bool:
    """Equal rows, floats to 1e-5: the engine packs a chunk's requests into other batches than one step's, and
    fp32 kernels round the last bits of a log-likelihood differently by batch shape (as any batch size change does)."""

    def same(a: object, b: object) -> bool:
        if isinstance(a, float) and isinstance(b, float):
            return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-5)
        return a == b

    return len(left) == len(right) and all(len(x) == len(y) and all(map(same, x, y)) for x, y in zip(left, right))


@pytest.mark.slow
def test_chunked_scoring_and_grading_give_the_rows_of_one_step(tmp_path: Path, tiny_model: str) -> None:
    one, chunked = tmp_path / "one.duckdb", tmp_path / "chunked.duckdb"
    single = mine_demo(one, tiny_model, None)
    fanned = mine_demo(chunked, tiny_model, 7)  # the demo's 40 items: 6 chunks, the last one short

    assert single.success and fanned.success
    steps = [e.step_key for e in fanned.all_events if e.event_type_value == "STEP_SUCCESS"]
    assert sum(s.startswith("base_scores.base_scores_chunk[") for s in steps) == 6
    assert sum(s.startswith("candidate_scores.candidate_scores_chunk[") for s in steps) == 6
    assert (
        sum(
            s.startswith("base_scores.base_scores_chunk[")
            for s in (e.step_key for e in single.all_events if e.event_type_value == "STEP_SUCCESS")
        )
        == 1
    )
    assert len(query(chunked, CHOICE_ROWS)) == 160 and same_rows(query(chunked, CHOICE_ROWS), query(one, CHOICE_ROWS))
    negatives = query(one, NEGATIVE_ROWS)
    assert len(negatives) >= 3 * 40 and same_rows(query(chunked, NEGATIVE_ROWS), negatives)
    # One scoring run, as one step records it: the chunks' report merged.
    assert query(chunked, "SELECT n_items, n_requests FROM score_runs") == [(40, 160)]
