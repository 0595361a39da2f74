-- Likra: training sets built from the curated negatives, the runs that train two LoRA heads on them,
-- their checkpoints, and evaluation metrics computed from per-choice scores in `choice_scores`.

CREATE TABLE likra_training_sets (
    set_id        VARCHAR PRIMARY KEY,   -- hash of the benchmark, policy, seed and every row
    benchmark     VARCHAR NOT NULL,
    policy        VARCHAR NOT NULL,      -- how each question's negative was chosen
    seed          INTEGER NOT NULL,
    train_splits  VARCHAR[] NOT NULL,
    eval_split    VARCHAR NOT NULL,
    holdout       BOOLEAN NOT NULL,      -- the evaluation items are a hold-out of a split training shares
    n_train       INTEGER NOT NULL,      -- questions with a positive and a negative row
    n_eval        INTEGER NOT NULL,
    skipped       JSON NOT NULL,         -- questions left out, by reason (no negative found, twin of an eval question, ...)
    config        JSON NOT NULL,         -- the settings the set was built with
    created_at    TIMESTAMP NOT NULL
);

CREATE TABLE likra_set_items (
    set_id   VARCHAR NOT NULL,
    item_id  VARCHAR NOT NULL,
    role     VARCHAR NOT NULL CHECK (role IN ('train', 'eval')),
    PRIMARY KEY (set_id, item_id)
);

CREATE TABLE likra_training_rows (
    set_id          VARCHAR NOT NULL,
    head            VARCHAR NOT NULL CHECK (head IN ('positive', 'negative')),
    position        INTEGER NOT NULL,    -- order in the seeded permutation; both heads share it
    item_id         VARCHAR NOT NULL,
    context         VARCHAR NOT NULL,    -- the text before the answer, exactly as the scoring engine builds it
    continuation    VARCHAR NOT NULL,    -- the scored text: delimiter + answer (or, partial format, the suffix)
    answer          VARCHAR NOT NULL,    -- the answer text this row teaches
    source          VARCHAR NOT NULL,    -- gold | own_distractor | cross_question | lexical | other_question | other_benchmark
    source_item_id  VARCHAR,             -- the item the answer comes from
    PRIMARY KEY (set_id, head, position)
);

CREATE TABLE likra_runs (
    run_id       VARCHAR PRIMARY KEY,
    benchmark    VARCHAR NOT NULL,
    set_id       VARCHAR NOT NULL,
    policy       VARCHAR NOT NULL,
    model        VARCHAR NOT NULL,       -- base weights and dtype, as `choice_scores.model`
    heads        VARCHAR NOT NULL,       -- both | neg | pos
    config       JSON NOT NULL,
    config_hash  VARCHAR NOT NULL,
    out_dir      VARCHAR NOT NULL,       -- where the adapter folders are
    started_at   TIMESTAMP NOT NULL,
    finished_at  TIMESTAMP               -- NULL while training
);

CREATE TABLE likra_checkpoints (
    run_id      VARCHAR NOT NULL,
    head        VARCHAR NOT NULL CHECK (head IN ('positive', 'negative')),
    n_examples  INTEGER NOT NULL,        -- training examples the head had seen
    adapter     VARCHAR NOT NULL,        -- name@content hash: `choice_scores.adapter` of its scores
    path        VARCHAR NOT NULL,        -- a peft adapter folder
    loss        DOUBLE,                  -- mean answer-token loss since the previous checkpoint
    seconds     DOUBLE NOT NULL,         -- training time since the previous checkpoint
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, head, n_examples)
);

-- The negative-head weights w a run is evaluated at (`likra evaluate --w` adds more).
CREATE TABLE likra_weights (
    run_id  VARCHAR NOT NULL,
    w       DOUBLE NOT NULL,
    PRIMARY KEY (run_id, w)
);

-- Per evaluated point (0 examples = the base model, then every checkpoint size) and choice: the
-- log-likelihoods under the base model and the positive and negative heads of that size.
CREATE VIEW likra_eval_choices AS
WITH points AS (
    SELECT run_id, 0 AS n_examples, 'base' AS pos_adapter, 'base' AS neg_adapter FROM likra_runs
    UNION ALL
    SELECT run_id, n_examples,
           max(adapter) FILTER (WHERE head = 'positive'), max(adapter) FILTER (WHERE head = 'negative')
    FROM likra_checkpoints GROUP BY run_id, n_examples
)
SELECT r.run_id, r.benchmark, r.policy, r.model, p.n_examples, b.fewshot, b.item_id, b.choice, b.n_chars,
       b.loglik AS base, pos.loglik AS pos, neg.loglik AS neg
FROM points p
JOIN likra_runs r USING (run_id)
JOIN likra_set_items e ON e.set_id = r.set_id AND e.role = 'eval'
JOIN choice_scores b ON b.item_id = e.item_id AND b.model = r.model AND b.adapter = 'base'
LEFT JOIN choice_scores pos ON pos.item_id = b.item_id AND pos.choice = b.choice AND pos.model = r.model
     AND pos.fewshot = b.fewshot AND pos.adapter = p.pos_adapter
LEFT JOIN choice_scores neg ON neg.item_id = b.item_id AND neg.choice = b.choice AND neg.model = r.model
     AND neg.fewshot = b.fewshot AND neg.adapter = p.neg_adapter;

-- Metrics per run, size, scoring mode and weight, as lm-evaluation-harness defines acc and acc_norm
-- (argmax of the score, or of the score per answer character; ties go to the first choice):
--   base = log p_base, sft = log p+, likra = log p+ - w log p-, negbase = log p_base - w log p-,
--   posbase = log p+ - log p_base. w applies to likra and negbase only (NULL for the others). At 0
--   examples every mode is the base model (untrained heads equal it; the paper's 0-example point).
CREATE VIEW likra_eval AS
WITH modes AS (
    SELECT run_id, m.mode, w FROM likra_weights, (VALUES ('likra'), ('negbase')) m(mode)
    UNION ALL
    SELECT run_id, m.mode, NULL::DOUBLE FROM likra_runs, (VALUES ('base'), ('sft'), ('posbase')) m(mode)
),
scored AS (
    SELECT c.*, m.mode, m.w,
           CASE WHEN c.n_examples = 0 OR m.mode = 'base' THEN c.base  -- 0 examples: every mode is the base model
                WHEN m.mode = 'sft' THEN c.pos WHEN m.mode = 'likra' THEN c.pos - m.w * c.neg
                WHEN m.mode = 'negbase' THEN c.base - m.w * c.neg ELSE c.pos - c.base END AS score
    FROM likra_eval_choices c JOIN modes m USING (run_id)
),
predictions AS (
    SELECT run_id, benchmark, policy, model, n_examples, fewshot, mode, w, item_id,
           arg_max(choice, [score, -choice]) AS pred,
           arg_max(choice, [score / greatest(n_chars, 1), -choice]) AS pred_norm,
           count(*) AS n_scored
    FROM scored WHERE score IS NOT NULL
    GROUP BY ALL
)
SELECT p.benchmark, i.split, p.policy, p.n_examples, p.mode, p.w, p.fewshot, count(*) AS n_items,
       avg((p.pred = i.gold)::DOUBLE) AS acc,
       sqrt(avg((p.pred = i.gold)::DOUBLE) * (1 - avg((p.pred = i.gold)::DOUBLE)) / count(*)) AS acc_stderr,
       avg((p.pred_norm = i.gold)::DOUBLE) AS acc_norm,
       p.model, p.run_id AS run
FROM predictions p JOIN items i USING (item_id)
WHERE p.n_scored = len(i.choices)
GROUP BY p.benchmark, i.split, p.policy, p.n_examples, p.mode, p.w, p.fewshot, p.model, p.run_id;
