-- Likra metrics per item, for paired comparisons, and the 0-example point as what it is.
--
-- At 0 examples the heads are untrained: each equals the base model (peft's zero-initialised B), so
-- sft = base, likra = negbase = (1 - w) * base (at w = 1 every choice scores 0: a tie, which goes to
-- the first choice, as lm-evaluation-harness breaks ties), and posbase = 0.

DROP VIEW likra_eval;
DROP VIEW likra_eval_choices;

-- Per evaluated point (0 examples = untrained heads, then every checkpoint size) and choice: the
-- log-likelihoods under the base model and the positive and negative heads of that size, each in the
-- same context (prompt and exemplars) as the base score beside it.
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
     AND pos.fewshot = b.fewshot AND pos.adapter = p.pos_adapter AND pos.context_hash = b.context_hash
LEFT JOIN choice_scores neg ON neg.item_id = b.item_id AND neg.choice = b.choice AND neg.model = r.model
     AND neg.fewshot = b.fewshot AND neg.adapter = p.neg_adapter AND neg.context_hash = b.context_hash;

-- One row per run, size, scoring mode, weight and evaluation item: the predicted choice by acc (argmax
-- of the score) and by acc_norm (argmax of the score per answer character), and whether each is right.
-- Items whose choices are not all scored are left out.
CREATE VIEW likra_eval_items AS
WITH modes AS (
    SELECT run_id, m.mode, w FROM likra_weights, (VALUES ('likra'), ('negbase')) m(mode)
    UNION ALL
    SELECT run_id, m.mode, NULL::DOUBLE FROM likra_runs, (VALUES ('base'), ('sft'), ('posbase')) m(mode)
),
scored AS (
    SELECT c.*, m.mode, m.w,
           CASE WHEN m.mode = 'base' THEN c.base WHEN m.mode = 'sft' THEN c.pos
                WHEN m.mode = 'likra' THEN c.pos - m.w * c.neg
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
SELECT p.run_id AS run, p.benchmark, i.split, p.policy, p.model, p.n_examples, p.mode, p.w, p.fewshot, p.item_id,
       p.pred, p.pred_norm, i.gold, (p.pred = i.gold) AS correct, (p.pred_norm = i.gold) AS correct_norm
FROM predictions p JOIN items i USING (item_id)
WHERE p.n_scored = len(i.choices);

-- Metrics per run, size, scoring mode and weight, as lm-evaluation-harness defines acc and acc_norm,
-- each with its binomial standard error:
--   base = log p_base, sft = log p+, likra = log p+ - w log p-, negbase = log p_base - w log p-,
--   posbase = log p+ - log p_base. w applies to likra and negbase only (NULL for the others).
CREATE VIEW likra_eval AS
SELECT benchmark, split, policy, n_examples, mode, w, fewshot, count(*) AS n_items,
       avg(correct::DOUBLE) AS acc,
       sqrt(avg(correct::DOUBLE) * (1 - avg(correct::DOUBLE)) / count(*)) AS acc_stderr,
       avg(correct_norm::DOUBLE) AS acc_norm,
       sqrt(avg(correct_norm::DOUBLE) * (1 - avg(correct_norm::DOUBLE)) / count(*)) AS acc_norm_stderr,
       model, run
FROM likra_eval_items
GROUP BY benchmark, split, policy, n_examples, mode, w, fewshot, model, run;
