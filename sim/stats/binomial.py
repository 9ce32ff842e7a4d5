"""Exact (Clopper-Pearson) confidence interval for a binomial proportion.

Source: Clopper CJ, Pearson ES. The use of confidence or fiducial limits illustrated in the case of
the binomial. Biometrika 1934;26:404-413. The limits are beta quantiles (as in R's binom.test and
scipy's binomtest(...).proportion_ci(method="exact")):
lower = Beta(x, n - x + 1) quantile at alpha/2 (0 when x = 0),
upper = Beta(x + 1, n - x) quantile at 1 - alpha/2 (1 when x = n), with alpha = 1 - conf_level.
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy import special


@dataclass(frozen=True)
class BinomialCI:
    """A proportion `successes / n` with its exact two-sided confidence interval."""

    successes: int
    n: int
    proportion: float
    lower: float
    upper: float
    conf_level: float


def clopper_pearson(successes: int, n: int, conf_level: float = 0.95) -> BinomialCI:
    """Exact two-sided Clopper-Pearson interval for `successes` out of `n`."""
    if n < 1 or int(n) != n:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not 0 <= successes <= n or int(successes) != successes:
        raise ValueError(f"successes must be an integer in [0, {n}], got {successes!r}")
    if not 0.0 < conf_level < 1.0:
        raise ValueError(f"conf_level must be in (0, 1), got {conf_level!r}")
    tail = (1.0 - conf_level) / 2.0
    lower = 0.0 if successes == 0 else float(special.betaincinv(successes, n - successes + 1, tail))
    upper = (
        1.0 if successes == n else float(special.betaincinv(successes + 1, n - successes, 1 - tail))
    )
    return BinomialCI(
        successes=int(successes),
        n=int(n),
        proportion=successes / n,
        lower=lower,
        upper=upper,
        conf_level=float(conf_level),
    )
