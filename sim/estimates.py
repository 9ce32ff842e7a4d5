"""Operating characteristics as Monte Carlo estimates with their standard errors (pure).

Replicates are summarised in blocks of fixed boundaries; blocks are merged in block order with
the pairwise update of Chan, Golub and LeVeque (1979), so the result is the same to the last bit
whatever the number of workers. Monte Carlo SEs follow rsimsum (Gasparini 2018; Morris, White and
Crowther 2019, Table 6): sqrt(p (1 - p) / R) for a proportion, s / sqrt(R) for a mean. A metric
that is undefined in a replicate (NaN, e.g. a median not reached) is left out of its average, and
the number of replicates that did contribute is kept with the estimate.
"""

import math
from dataclasses import dataclass

import numpy as np

PROPORTION = "proportion"
MEAN = "mean"


@dataclass(frozen=True)
class Estimate:
    estimate: float
    mc_se: float
    replicates: int  # replicates in which the metric was defined

    def as_dict(self) -> dict:
        def finite(value: float) -> float | None:
            return value if math.isfinite(value) else None

        return {
            "estimate": finite(self.estimate),
            "mc_se": finite(self.mc_se),
            "replicates": self.replicates,
        }


@dataclass(frozen=True)
class BlockSummary:
    """Count, mean and sum of squared deviations of each metric over one block of replicates."""

    count: np.ndarray
    mean: np.ndarray
    squared_deviations: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray) -> "BlockSummary":
        """`values`: replicates x metrics, NaN where a metric is undefined."""
        defined = ~np.isnan(values)
        count = defined.sum(axis=0)
        total = np.where(defined, values, 0.0).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / np.maximum(count, 1), 0.0)
        deviations = np.where(defined, values - mean, 0.0)
        return cls(count.astype(np.int64), mean, (deviations**2).sum(axis=0))

    def merge(self, other: "BlockSummary") -> "BlockSummary":
        count = self.count + other.count
        safe = np.maximum(count, 1)
        delta = other.mean - self.mean
        mean = np.where(count > 0, self.mean + delta * other.count / safe, 0.0)
        squared = (
            self.squared_deviations
            + other.squared_deviations
            + delta**2 * self.count * other.count / safe
        )
        return BlockSummary(count, mean, squared)


def estimates(summary: BlockSummary, names: tuple[str, ...], kinds: tuple[str, ...]) -> dict:
    """Metric name -> Estimate, from the merged summary of every block."""
    result = {}
    for index, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        count = int(summary.count[index])
        mean = float(summary.mean[index]) if count else math.nan
        if count < 2:
            se = math.nan
        elif kind == PROPORTION:
            se = math.sqrt(max(mean * (1.0 - mean), 0.0) / count)
        else:
            se = math.sqrt(float(summary.squared_deviations[index]) / (count - 1) / count)
        result[name] = Estimate(mean, se, count)
    return result
