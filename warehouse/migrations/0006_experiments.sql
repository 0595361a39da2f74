-- Likra experiments: each run of an experiment with its configuration, and its results in long form.

CREATE TABLE likra_experiments (
    experiment_id  VARCHAR PRIMARY KEY,  -- name, benchmark and a hash of the configuration
    name           VARCHAR NOT NULL,     -- learning-curve | gain | negative-types | weight-sweep | likelihood-shift | dpo-baseline
    benchmark      VARCHAR NOT NULL,
    config         JSON NOT NULL,
    runs           VARCHAR[] NOT NULL,   -- the Likra runs it read (`likra_runs.run_id`)
    output_dir     VARCHAR NOT NULL,     -- its plots and markdown report
    summary        JSON NOT NULL,        -- the key numbers
    created_at     TIMESTAMP NOT NULL
);

CREATE TABLE likra_experiment_results (
    experiment_id  VARCHAR NOT NULL,
    series         VARCHAR NOT NULL,     -- what a line of its plot is: a mode, a policy, a head, ...
    seed           INTEGER,
    n_examples     INTEGER,
    w              DOUBLE,
    metric         VARCHAR NOT NULL,     -- acc, acc_norm, gain_per_example, p_gold, ...
    value          DOUBLE,
    stderr         DOUBLE,               -- binomial standard error where the value is an accuracy
    n_items        INTEGER,
    run_id         VARCHAR
);
