-- Mining quality: twin questions, and plausibility measured for the question (pointwise mutual information).

-- Normalised question keys by the hash of the exact question text: items with equal keys are one
-- question (twins), whose true answers are never a negative for any of them. Mining adds the keys of
-- questions it has not seen; the text hashed is the question, and for the partial format the question,
-- a newline and the continuation (`mining.twins.QUESTION_TEXT_SQL`).
CREATE TABLE question_keys (
    text_hash    VARCHAR PRIMARY KEY,   -- sha256 of the question text
    group_key    VARCHAR NOT NULL,      -- hash of its normalised form (NFKC, case, punctuation, whitespace)
    normalized   VARCHAR NOT NULL,
    computed_at  TIMESTAMP NOT NULL
);

-- One row per group of twin questions: which items were treated as one question, and why.
CREATE VIEW question_groups AS
WITH keyed AS (
    SELECT i.*, k.group_key, k.normalized
    FROM items i
    JOIN question_keys k ON k.text_hash = sha256(CASE WHEN i.format = 'partial'
                                                      THEN i.question || chr(10) || coalesce(i.continuation, '')
                                                      ELSE i.question END)
)
SELECT group_key,
       any_value(normalized) AS normalized_question,
       count(*) AS n_items,
       list(item_id ORDER BY item_id) AS item_ids,
       list(DISTINCT benchmark ORDER BY benchmark) AS benchmarks,
       list_sort(list_distinct(flatten(list(list_transform(list_distinct(list_append(coalesce(golds, []), gold)),
                                                           g -> choices[g + 1]))))) AS true_answers,
       CASE WHEN any_value(format) = 'partial' THEN 'same question and continuation after normalisation'
            ELSE 'same question after normalisation' END AS reason
FROM keyed
GROUP BY group_key
HAVING count(*) > 1;

-- Plausibility for the question: the unconditional log-likelihood of each negative (after a neutral
-- premise, as in lm-eval's acc_mutual_info) and the pointwise mutual information with the question.
ALTER TABLE graded_negatives ADD COLUMN uncond_loglik DOUBLE;  -- log p(negative | premise)
ALTER TABLE graded_negatives ADD COLUMN pmi DOUBLE;            -- loglik - uncond_loglik
ALTER TABLE graded_negatives ADD COLUMN gold_pmi DOUBLE;       -- the same for the gold answer
ALTER TABLE graded_negatives ADD COLUMN margin_pmi DOUBLE;     -- pmi - gold_pmi (> 0: more plausible for this question than the gold)
