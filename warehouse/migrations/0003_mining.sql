-- Near-miss mining: embeddings cache, candidates, graded negatives and the runs that made them.

CREATE TABLE text_embeddings (
    model        VARCHAR NOT NULL,      -- embedding model: name@content hash or hub id
    text_hash    VARCHAR NOT NULL,      -- sha256 of the exact text embedded
    embedding    FLOAT[] NOT NULL,      -- L2-normalised
    computed_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (model, text_hash)
);

CREATE TABLE mining_runs (
    run_id       VARCHAR PRIMARY KEY,
    benchmark    VARCHAR NOT NULL,
    config_hash  VARCHAR NOT NULL,
    config       JSON NOT NULL,
    started_at   TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP NOT NULL,
    summary      JSON NOT NULL         -- counts per tier and origin, filter removals, cache hits, score statistics
);

CREATE TABLE candidates (
    mining_run_id   VARCHAR NOT NULL,
    item_id         VARCHAR NOT NULL,
    benchmark       VARCHAR NOT NULL,
    text            VARCHAR NOT NULL,
    norm_hash       VARCHAR NOT NULL,   -- hash of the normalised text (case, whitespace, punctuation)
    origin          VARCHAR NOT NULL CHECK (origin IN ('own_distractor', 'cross_question', 'lexical')),
    origin_item_id  VARCHAR,            -- where the text is an answer (the item itself for own distractors)
    search_rank     INTEGER,            -- rank among the nearest neighbours or BM25 hits (NULL for own distractors)
    sim_gold        DOUBLE NOT NULL,    -- cosine similarity to the gold answer
    sim_question    DOUBLE NOT NULL,    -- cosine similarity to the question
    PRIMARY KEY (item_id, norm_hash)
);

CREATE TABLE graded_negatives (
    mining_run_id     VARCHAR NOT NULL,
    item_id           VARCHAR NOT NULL,
    benchmark         VARCHAR NOT NULL,
    negative          VARCHAR NOT NULL,
    norm_hash         VARCHAR NOT NULL,
    origin            VARCHAR NOT NULL,
    origin_item_id    VARCHAR,
    sim_gold          DOUBLE NOT NULL,
    sim_question      DOUBLE NOT NULL,
    loglik            DOUBLE NOT NULL,  -- log p(negative | prompt) under the base model, summed over tokens
    n_tokens          INTEGER NOT NULL,
    loglik_per_token  DOUBLE NOT NULL,
    loglik_per_char   DOUBLE NOT NULL,
    gold_loglik       DOUBLE NOT NULL,
    rank              INTEGER NOT NULL, -- 1 = most likely among the gold answer and every candidate of the item
    margin            DOUBLE NOT NULL,  -- loglik - gold_loglik (> 0: the model prefers the negative)
    margin_per_token  DOUBLE NOT NULL,  -- loglik_per_token - gold loglik per token
    margin_per_char   DOUBLE NOT NULL,  -- loglik_per_char - gold loglik per character
    tier              VARCHAR NOT NULL CHECK (tier IN ('near_miss', 'plausible', 'far')),
    PRIMARY KEY (item_id, norm_hash)
);

CREATE VIEW near_misses AS
SELECT g.*, i.question, i.prompt, i.choices[i.gold + 1] AS gold_answer
FROM graded_negatives g JOIN items i USING (item_id)
WHERE g.tier = 'near_miss';
