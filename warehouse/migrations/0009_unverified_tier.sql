-- The tier `unverified`: a mined candidate (another question's answer) that the verifier could not clear of
-- being a true answer in other words is kept, queryable, and never picked by a training policy. The
-- table is rebuilt because the tier's CHECK constraint cannot be altered in place.

CREATE TABLE graded_negatives_v9 (
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
    tier              VARCHAR NOT NULL CHECK (tier IN ('near_miss', 'plausible', 'far', 'unverified')),
    uncond_loglik     DOUBLE,           -- log p(negative | premise)
    pmi               DOUBLE,           -- loglik - uncond_loglik
    gold_pmi          DOUBLE,           -- the same for the gold answer
    margin_pmi        DOUBLE,           -- pmi - gold_pmi (> 0: more plausible for this question than the gold)
    unverified_by     VARCHAR,          -- the verifier rule that suspects a mined candidate of being right (tier unverified)
    PRIMARY KEY (item_id, norm_hash)
);

INSERT INTO graded_negatives_v9
SELECT mining_run_id, item_id, benchmark, negative, norm_hash, origin, origin_item_id, sim_gold, sim_question, loglik,
       n_tokens, loglik_per_token, loglik_per_char, gold_loglik, rank, margin, margin_per_token, margin_per_char, tier,
       uncond_loglik, pmi, gold_pmi, margin_pmi, NULL
FROM graded_negatives;

DROP VIEW near_misses;
DROP TABLE graded_negatives;
ALTER TABLE graded_negatives_v9 RENAME TO graded_negatives;

CREATE VIEW near_misses AS
SELECT g.*, i.question, i.prompt, i.choices[i.gold + 1] AS gold_answer
FROM graded_negatives g JOIN items i USING (item_id)
WHERE g.tier = 'near_miss';
