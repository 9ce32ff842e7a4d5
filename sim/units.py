"""Time units. Engine time is in days (float); day 0 is the day the trial opens."""

import math

DAYS_PER_WEEK = 7.0
DAYS_PER_MONTH = 365.25 / 12
DAYS_PER_YEAR = 365.25
LN2 = math.log(2.0)


def weeks(value: float) -> float:
    return value * DAYS_PER_WEEK


def months(value: float) -> float:
    return value * DAYS_PER_MONTH


def to_weeks(days: float) -> float:
    return days / DAYS_PER_WEEK


def to_months(days: float) -> float:
    return days / DAYS_PER_MONTH


def hazard_from_median(median: float) -> float:
    """Exponential hazard (per unit of `median`) whose median is `median`."""
    return LN2 / median
