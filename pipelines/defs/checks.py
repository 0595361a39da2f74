"""Asset checks the stages share: a count of bad rows that must be zero, and unique natural keys."""

import dagster as dg


def zero_check(name: str, count: int, key: str) -> dg.AssetCheckResult:
    """The result of check `name`: passed when `count` is zero, which its metadata shows under `key`."""
    return dg.AssetCheckResult(check_name=name, passed=count == 0, metadata={key: count})


def keys_unique_spec(asset: str, one_row_per: str) -> dg.AssetCheckSpec:
    """The blocking check that a writer kept its table's natural key unique."""
    return dg.AssetCheckSpec(
        "keys_unique",
        asset=asset,
        blocking=True,
        description=f"one row per {one_row_per} (kept by the writers on DuckLake, which has no keys)",
    )


def keys_unique_result(duplicates: int) -> dg.AssetCheckResult:
    """The result of `keys_unique_spec`'s check, from the table's rows beyond the first of their key."""
    return zero_check("keys_unique", duplicates, "duplicate_keys")
