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
QUANTILES = "quantiles"  # reported as NAME_q10, NAME_median, NAME_q90
QUANTILE_LEVELS = (("q10", 0.1), ("median", 0.5), ("q90", 0.9))
# Quantile metrics are kept as exact counts of values rounded to this resolution, merged by
# adding counts: streaming, and the same whatever the workers.
_QUANTILE_RESOLUTION = 1e-3


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
    """Count, mean and sum of squared deviations of each metric over one block of replicates,
    and the value counts of the metrics reported as quantiles."""

    count: np.ndarray
    mean: np.ndarray
    squared_deviations: np.ndarray
    histograms: tuple[dict[int, int], ...] = ()

    @classmethod
    def of(cls, values: np.ndarray, kinds: tuple[str, ...] = ()) -> "BlockSummary":
        """`values`: replicates x metrics, NaN where a metric is undefined."""
        defined = ~np.isnan(values)
        count = defined.sum(axis=0)
        total = np.where(defined, values, 0.0).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, total / np.maximum(count, 1), 0.0)
        deviations = np.where(defined, values - mean, 0.0)
        histograms = []
        for column, kind in enumerate(kinds):
            if kind == QUANTILES:
                column_values = values[defined[:, column], column]
                keys = np.rint(column_values / _QUANTILE_RESOLUTION).astype(np.int64)
                unique, counts = np.unique(keys, return_counts=True)
                histograms.append(dict(zip(unique.tolist(), counts.tolist(), strict=True)))
        return cls(count.astype(np.int64), mean, (deviations**2).sum(axis=0), tuple(histograms))

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
        histograms = []
        for mine, theirs in zip(self.histograms, other.histograms, strict=True):
            merged = dict(mine)
            for key, value in theirs.items():
                merged[key] = merged.get(key, 0) + value
            histograms.append(merged)
        return BlockSummary(count, mean, squared, tuple(histograms))


def estimates(summary: BlockSummary, names: tuple[str, ...], kinds: tuple[str, ...]) -> dict:
    """Metric name -> Estimate, from the merged summary of every block."""
    result = {}
    histograms = iter(summary.histograms)
    for index, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        if kind == QUANTILES:
            result.update(_quantiles(name, next(histograms)))
            continue
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


def _quantiles(name: str, histogram: dict[int, int]) -> dict[str, Estimate]:
    """Empirical quantiles with Monte Carlo SEs from order statistics.

    The SE of the p-quantile of R draws is half the distance between the order statistics of
    ranks R p -/+ sqrt(R p (1 - p)): the binomial approximation to their coverage (David and
    Nagaraja, Order Statistics, 3rd ed. 2003, section 7.1), free of any density estimate.
    """
    keys = sorted(histogram)
    values = np.array(keys, dtype=float) * _QUANTILE_RESOLUTION
    cumulative = np.cumsum([histogram[key] for key in keys])
    total = int(cumulative[-1]) if keys else 0
    result = {}
    for suffix, p in QUANTILE_LEVELS:
        label = f"{name}_{suffix}"
        if total == 0:
            result[label] = Estimate(math.nan, math.nan, 0)
            continue

        def order_statistic(rank: float) -> float:
            rank = min(max(math.ceil(rank), 1), total)
            return float(values[np.searchsorted(cumulative, rank)])

        spread = math.sqrt(total * p * (1 - p))
        if total * p - spread <= 0 or math.ceil(total * p + spread) > total:
            se = math.nan  # the ranks run off the sample (R < 10 at the 10% quantile): unknown
        else:
            se = (order_statistic(total * p + spread) - order_statistic(total * p - spread)) / 2
        result[label] = Estimate(order_statistic(total * p), se, total)
    return result
