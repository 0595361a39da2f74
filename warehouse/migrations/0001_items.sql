-- Benchmark items, one row per question, and the bookkeeping of ingestion.

CREATE TABLE items (
    item_id          VARCHAR PRIMARY KEY,   -- '<benchmark>/<split>/[<subset>/]<source_id>', stable across re-ingestion
    benchmark        VARCHAR NOT NULL,
    split            VARCHAR NOT NULL,
    source_id        VARCHAR NOT NULL,      -- the benchmark's own id, or the 0-based row number where it has none
    position         INTEGER NOT NULL,      -- 0-based order of the item within its split, as read (few-shot 'first n')
    subset           VARCHAR,               -- e.g. the MMLU subject
    prompt           VARCHAR NOT NULL,      -- scoring context as lm-evaluation-harness builds it, no trailing space
    question         VARCHAR NOT NULL,      -- the bare question (no template, primer or options), for search and display
    description      VARCHAR,               -- task description lm-eval puts before any few-shot examples
    choices          VARCHAR[] NOT NULL,    -- answer texts without the leading delimiter
    gold             INTEGER NOT NULL,      -- 0-based index of the correct choice
    golds            INTEGER[],             -- every correct index where several are correct (TruthfulQA MC2)
    format           VARCHAR NOT NULL CHECK (format IN ('continuation', 'partial')),
    continuation     VARCHAR,               -- 'partial' format: the shared suffix scored after each choice
    target_delimiter VARCHAR NOT NULL,      -- put between context and scored text (lm-eval's target_delimiter)
    source           VARCHAR NOT NULL,      -- file name and content hash, or hub dataset id and revision
    ingest_run_id    VARCHAR NOT NULL,
    ingested_at      TIMESTAMP NOT NULL
);

CREATE TABLE ingest_runs (
    run_id       VARCHAR PRIMARY KEY,
    benchmark    VARCHAR NOT NULL,
    splits       VARCHAR[] NOT NULL,
    origin       VARCHAR NOT NULL,          -- the path, hub id or spec that was read
    started_at   TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP NOT NULL,
    n_items      INTEGER NOT NULL,
    n_rejects    INTEGER NOT NULL
);

CREATE TABLE ingest_rejects (
    run_id     VARCHAR NOT NULL,
    benchmark  VARCHAR NOT NULL,
    split      VARCHAR NOT NULL,
    source     VARCHAR NOT NULL,            -- the file or dataset the row came from
    row_ref    VARCHAR NOT NULL,            -- e.g. 'line 17', 'record 3 (lines 5-7)', 'row 12'
    reason     VARCHAR NOT NULL
);

CREATE TABLE benchmark_specs (
    benchmark      VARCHAR PRIMARY KEY,
    spec_yaml      VARCHAR NOT NULL,
    spec_dir       VARCHAR NOT NULL,        -- relative paths in the spec are resolved against this folder
    registered_at  TIMESTAMP NOT NULL
);
