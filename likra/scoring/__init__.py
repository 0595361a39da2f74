"""The log-likelihood scoring engine: exact lm-evaluation-harness numbers, computed fast."""
