-- The embedding cache loses its primary key: DuckDB rewrites a table's whole key index at every
-- checkpoint, so each write to a growing cache cost more than the last. Writers skip cached keys
-- with an anti-join instead; (model, text_hash) stays unique.
CREATE TABLE text_embeddings_unkeyed (
    model        VARCHAR NOT NULL,      -- embedding model: name@content hash or hub id
    text_hash    VARCHAR NOT NULL,      -- sha256 of the exact text embedded
    embedding    FLOAT[] NOT NULL,      -- L2-normalised
    computed_at  TIMESTAMP NOT NULL
);
INSERT INTO text_embeddings_unkeyed SELECT model, text_hash, embedding, computed_at FROM text_embeddings;
DROP TABLE text_embeddings;
ALTER TABLE text_embeddings_unkeyed RENAME TO text_embeddings;

-- One row per benchmark: what its current `candidates` were mined from. `inputs_key` hashes the
-- candidate settings, the embedding model, the benchmark's items and the answer pool in scope; a
-- re-mine whose key is unchanged reuses the stored candidates instead of searching again.
CREATE TABLE candidate_sets (
    benchmark       VARCHAR PRIMARY KEY,
    inputs_key      VARCHAR NOT NULL,
    mining_run_id   VARCHAR NOT NULL,   -- the run that found these candidates
    removed         JSON NOT NULL,      -- candidates each false-negative filter removed
    items_without   INTEGER NOT NULL,   -- items left without any candidate
    created_at      TIMESTAMP NOT NULL
);
