-- Log-likelihood scores: a content-addressed cache of every request scored, and per-choice scores of items.

CREATE TABLE loglik_cache (
    model              VARCHAR NOT NULL,     -- weights: name@content hash, or hub id@revision
    adapter            VARCHAR NOT NULL,     -- 'base' (adapters off), or adapter name@content hash
    context_hash       VARCHAR NOT NULL,     -- sha256 of the whole context text, few-shot block included
    continuation_hash  VARCHAR NOT NULL,     -- sha256 of the scored text, leading delimiter included
    loglik             DOUBLE NOT NULL,      -- sum of log p(continuation tokens | context), natural log
    n_tokens           INTEGER NOT NULL,     -- continuation tokens
    n_context_tokens   INTEGER NOT NULL,     -- context tokens before any truncation
    is_greedy          BOOLEAN NOT NULL,     -- every continuation token is the argmax
    truncated          BOOLEAN NOT NULL,     -- the context was cut from the left to fit the model
    computed_at        TIMESTAMP NOT NULL,
    PRIMARY KEY (model, adapter, context_hash, continuation_hash)
);

CREATE TABLE choice_scores (
    item_id            VARCHAR NOT NULL,
    choice             INTEGER NOT NULL,     -- 0-based index into items.choices
    model              VARCHAR NOT NULL,
    adapter            VARCHAR NOT NULL,
    fewshot            INTEGER NOT NULL,     -- number of exemplars before the prompt
    loglik             DOUBLE NOT NULL,
    n_tokens           INTEGER NOT NULL,
    is_greedy          BOOLEAN NOT NULL,
    n_chars            INTEGER NOT NULL,     -- characters of the answer text (acc_norm divides by these)
    n_bytes            INTEGER NOT NULL,     -- UTF-8 bytes of the answer text (per-byte normalisation)
    truncated          BOOLEAN NOT NULL,
    context_hash       VARCHAR NOT NULL,
    continuation_hash  VARCHAR NOT NULL,
    score_run_id       VARCHAR NOT NULL,
    scored_at          TIMESTAMP NOT NULL,
    PRIMARY KEY (item_id, choice, model, adapter, fewshot)
);

CREATE TABLE score_runs (
    run_id          VARCHAR PRIMARY KEY,
    benchmark       VARCHAR NOT NULL,
    model           VARCHAR NOT NULL,
    adapter         VARCHAR NOT NULL,
    fewshot         INTEGER NOT NULL,
    dtype           VARCHAR NOT NULL,
    n_items         INTEGER NOT NULL,
    n_requests      INTEGER NOT NULL,
    n_cached        INTEGER NOT NULL,       -- answered from loglik_cache without running the model
    n_truncated     INTEGER NOT NULL,
    forward_tokens  BIGINT NOT NULL,        -- tokens the model actually ran
    seconds         DOUBLE NOT NULL,
    started_at      TIMESTAMP NOT NULL,
    finished_at     TIMESTAMP NOT NULL
);

-- One row per scored item and setting: the predictions acc, acc_norm and acc_bytes are made of,
-- and for items with several true answers (TruthfulQA MC2) the probability mass on them.
CREATE VIEW item_predictions AS
SELECT s.item_id, i.benchmark, i.split, i.subset, s.model, s.adapter, s.fewshot,
       arg_max(s.choice, s.loglik) AS pred,
       arg_max(s.choice, s.loglik / s.n_chars) AS pred_norm,
       arg_max(s.choice, s.loglik / s.n_bytes) AS pred_bytes,
       any_value(i.gold) AS gold,
       any_value(i.golds) AS golds,
       sum(exp(s.loglik - m.max_loglik)) FILTER (WHERE list_contains(i.golds, s.choice))
           / sum(exp(s.loglik - m.max_loglik)) AS p_true,
       count(*) AS n_scored,
       any_value(len(i.choices)) AS n_choices
FROM choice_scores s
JOIN items i USING (item_id)
JOIN (SELECT item_id, model, adapter, fewshot, max(loglik) AS max_loglik
      FROM choice_scores GROUP BY ALL) m USING (item_id, model, adapter, fewshot)
GROUP BY ALL;

-- acc, acc_norm and acc_bytes per benchmark, split, model, adapter and few-shot count.
CREATE VIEW accuracy AS
SELECT benchmark, split, model, adapter, fewshot,
       count(*) AS n_items,
       avg((pred = gold)::DOUBLE) AS acc,
       avg((pred_norm = gold)::DOUBLE) AS acc_norm,
       avg((pred_bytes = gold)::DOUBLE) AS acc_bytes,
       avg(p_true) AS mc2
FROM item_predictions
WHERE n_scored = n_choices
GROUP BY ALL;
