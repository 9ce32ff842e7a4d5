"""Re-planning an open trial: Poisson-gamma posterior and posterior predictive of accrual.

Model (Anisimov and Fedorov 2007, Stat Med 26:4958; Anisimov 2011, "Statistical modeling of
clinical trials (recruitment and randomization)", Commun Stat Theory Methods 40:3684): centre i
registers patients as a Poisson process with rate lambda_i per month from its activation on, and
lambda_i ~ Gamma(shape a, rate b). Gamma is conjugate to the Poisson count, so after n_i
registrations in T_i months open the rate is Gamma(a + n_i, b + T_i) (Gelman et al., Bayesian Data
Analysis, 3rd ed., section 2.6). Mixing a Poisson count over a gamma rate gives a negative binomial,
which makes the predictive distributions below exact:

- registrations in a future window in which centre i is open e_i months: a sum over centres of
  NegBin(size a + n_i, prob (b + T_i) / (b + T_i + e_i));
- time to R more registrations when one gamma rate Gamma(A, B) drives them all (the pooled case):
  given the rate it is Gamma(R, lambda), and lambda = Y / B, so tau / B = X / Y with X ~ Gamma(R),
  Y ~ Gamma(A) independent: a beta-prime (beta of the second kind) variable, i.e.
  tau = (R B / A) F(2R, 2A), with mean R B / (A - 1);
- in general, P(tau <= t) = P(registrations in (now, now + t] >= R), computed exactly by
  convolving the centres' negative binomials.

Priors, documented choices:
- pooled, none given: Jeffreys' prior for a Poisson rate, p(lambda) ~ lambda^-1/2, i.e. the improper
  Gamma(1/2, 0); the posterior Gamma(n + 1/2, T) is proper once the trial has been open any time.
- per centre, none given: empirical Bayes (Anisimov and Fedorov 2007): (a, b) maximise the
  marginal (negative binomial) likelihood of the open centres' counts and exposures; centres not
  yet open get that prior as their posterior. Plugging in (a, b) ignores their own uncertainty, so
  intervals are somewhat too narrow when few centres are open; give a prior to avoid this.

Times are days from the trial's opening (day 0), as in the engine; rates are per month.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize, special, stats

from sim.units import DAYS_PER_MONTH


@dataclass(frozen=True)
class GammaRate:
    """Gamma(shape, rate_months) for an accrual rate in patients per month.

    rate_months is the gamma's rate parameter b, in months: read Gamma(a, b) as "a patients seen in
    b months" (mean a / b per month). b = 0 is allowed for an improper prior only.
    """

    shape: float
    rate_months: float

    def __post_init__(self) -> None:
        if not (0.0 < self.shape < math.inf and 0.0 <= self.rate_months < math.inf):
            raise ValueError(
                f"need shape > 0 and rate_months >= 0, got {self.shape}, {self.rate_months}"
            )

    @classmethod
    def from_mean(cls, mean_per_month: float, shape: float) -> "GammaRate":
        """The gamma with this mean (patients per month) and shape (larger: more certain)."""
        return cls(shape, shape / mean_per_month)

    @property
    def proper(self) -> bool:
        return self.rate_months > 0.0

    @property
    def mean_per_month(self) -> float:
        return self.shape / self.rate_months if self.proper else math.inf


JEFFREYS_PRIOR = GammaRate(0.5, 0.0)
"""Jeffreys' prior for a Poisson rate, lambda^-1/2 (improper): the default for a pooled fit."""


@dataclass(frozen=True)
class SiteRate:
    """One centre's data and the posterior of its rate (the pooled fit has one, site "all")."""

    site: str
    activation_day: float
    registered: int
    exposure_months: float
    posterior: GammaRate


@dataclass(frozen=True)
class RatePosterior:
    """The posterior of the accrual rate(s) at as_of_day. prior_source: "jeffreys", "given" or
    "empirical-bayes"."""

    as_of_day: float
    registered: int
    prior: GammaRate
    prior_source: str
    sites: tuple[SiteRate, ...]

    @property
    def rate_mean_per_month(self) -> float:
        """Posterior mean of the total rate of the centres open at as_of_day."""
        return sum(
            s.posterior.mean_per_month for s in self.sites if s.activation_day <= self.as_of_day
        )


@dataclass(frozen=True)
class TargetPrediction:
    """When the target will be reached, from the posterior predictive. Days count from opening.

    [lower_day, upper_day] is the equal-tailed prediction interval at `level`; mean_day is inf
    when the predictive mean does not exist (total posterior shape <= 1).
    """

    target: int
    registered: int
    as_of_day: float
    level: float
    mean_day: float
    median_day: float
    lower_day: float
    upper_day: float
    deadline_day: float | None
    probability_by_deadline: float | None


def _checked_days(registration_days: Sequence[float], as_of_day: float) -> np.ndarray:
    days = np.asarray(registration_days, dtype=float).reshape(-1)
    if not (0.0 < as_of_day < math.inf):
        raise ValueError(f"as_of_day must be > 0 (the trial opens on day 0), got {as_of_day}")
    if days.size and not (np.all(days >= 0.0) and np.all(days <= as_of_day)):
        raise ValueError(f"registration days must lie in [0, as_of_day={as_of_day}]")
    return days


def pooled_posterior(
    registration_days: Sequence[float],
    as_of_day: float,
    prior: GammaRate | None = None,
) -> RatePosterior:
    """Posterior of one rate for the whole trial, open since day 0 (Jeffreys' prior by default)."""
    days = _checked_days(registration_days, as_of_day)
    used_prior = JEFFREYS_PRIOR if prior is None else prior
    exposure_months = as_of_day / DAYS_PER_MONTH
    posterior = GammaRate(used_prior.shape + days.size, used_prior.rate_months + exposure_months)
    site = SiteRate("all", 0.0, int(days.size), exposure_months, posterior)
    source = "jeffreys" if prior is None else "given"
    return RatePosterior(as_of_day, int(days.size), used_prior, source, (site,))


def _negative_log_marginal(
    log_params: np.ndarray, counts: np.ndarray, exposures: np.ndarray
) -> tuple[float, np.ndarray]:
    """-log likelihood of counts n_i ~ NegBin(a, b / (b + T_i)) and its gradient, in
    (log a, log mean) with mean = a / b (better conditioned than (a, b) for the optimiser)."""
    shape = math.exp(log_params[0])
    rate = shape / math.exp(log_params[1])
    log_likelihood = np.sum(
        special.gammaln(shape + counts)
        - special.gammaln(shape)
        + shape * math.log(rate)
        - (shape + counts) * np.log(rate + exposures)
    )
    d_shape = np.sum(
        special.digamma(shape + counts)
        - special.digamma(shape)
        + math.log(rate)
        - np.log(rate + exposures)
    )
    d_rate = np.sum(shape / rate - (shape + counts) / (rate + exposures))
    # d/dlog a holds the mean fixed, so b moves with a: db/dlog a = b; db/dlog mean = -b.
    gradient = np.array([shape * d_shape + rate * d_rate, -rate * d_rate])
    return -float(log_likelihood), -gradient


# A shape this large is a Poisson model with a common rate for all purposes (the rates' coefficient
# of variation is 1 / sqrt(shape) = 1%); the likelihood keeps rising towards it when the centres'
# counts are no more dispersed than Poisson.
_MAX_EMPIRICAL_SHAPE = 1e4
_MIN_EMPIRICAL_SHAPE = 1e-3


def empirical_bayes_prior(registered: Sequence[int], exposure_months: Sequence[float]) -> GammaRate:
    """Gamma prior of centre rates by maximum marginal likelihood (Anisimov and Fedorov 2007).

    registered[i] patients at centre i, open exposure_months[i] months (> 0). The shape is kept
    in [1e-3, 1e4]; it reaches the upper end when the counts show no extra-Poisson variation.
    """
    counts = np.asarray(registered, dtype=float)
    exposures = np.asarray(exposure_months, dtype=float)
    if counts.size < 2 or counts.shape != exposures.shape:
        raise ValueError("empirical Bayes needs counts and exposures of at least 2 open centres")
    if np.any(exposures <= 0.0) or np.any(counts < 0.0):
        raise ValueError("exposures must be > 0 and counts >= 0")
    if counts.sum() == 0:
        raise ValueError(
            "no registrations yet: the centres' rates cannot be estimated; give a prior"
        )
    pooled_mean = counts.sum() / exposures.sum()
    # Start from the method of moments: Var(n_i) = m T + m^2 T^2 / a at a typical exposure T.
    typical_exposure = exposures.mean()
    rates = counts / exposures
    extra_variance = rates.var(ddof=1) - pooled_mean / typical_exposure
    start_shape = pooled_mean**2 / extra_variance if extra_variance > 0.0 else 1e3
    start_shape = min(max(start_shape, 1e-2), 1e3)
    result = optimize.minimize(
        _negative_log_marginal,
        np.array([math.log(start_shape), math.log(pooled_mean)]),
        args=(counts, exposures),
        jac=True,
        method="L-BFGS-B",
        bounds=[
            (math.log(_MIN_EMPIRICAL_SHAPE), math.log(_MAX_EMPIRICAL_SHAPE)),
            (math.log(pooled_mean) - 20.0, math.log(pooled_mean) + 20.0),
        ],
    )
    shape = math.exp(result.x[0])
    return GammaRate(shape, shape / math.exp(result.x[1]))


def site_posteriors(
    registration_days: Sequence[float],
    registration_sites: Sequence[str],
    activation_days: Mapping[str, float],
    as_of_day: float,
    prior: GammaRate | None = None,
) -> RatePosterior:
    """Posterior of each centre's rate. activation_days lists every centre, including those to open
    after as_of_day (their posterior is the prior). Empirical-Bayes prior unless one is given."""
    days = _checked_days(registration_days, as_of_day)
    sites = list(registration_sites)
    if len(sites) != days.size:
        raise ValueError(f"{days.size} registration days but {len(sites)} registration sites")
    unknown = sorted(set(sites) - set(activation_days))
    if unknown:
        raise ValueError(f"registrations at centres with no activation day: {unknown}")
    names = list(activation_days)
    counts = {name: 0 for name in names}
    for day, site in zip(days.tolist(), sites, strict=True):
        if day < activation_days[site]:
            raise ValueError(f"a registration on day {day} at {site!r} before its activation")
        counts[site] += 1
    exposures = {
        name: max(as_of_day - float(activation_days[name]), 0.0) / DAYS_PER_MONTH for name in names
    }
    if prior is None:
        open_sites = [name for name in names if exposures[name] > 0.0]
        used_prior = empirical_bayes_prior(
            [counts[n] for n in open_sites], [exposures[n] for n in open_sites]
        )
        source = "empirical-bayes"
    else:
        used_prior, source = prior, "given"
    rates = []
    for name in names:
        posterior = GammaRate(
            used_prior.shape + counts[name], used_prior.rate_months + exposures[name]
        )
        if not posterior.proper:
            raise ValueError(f"centre {name!r} has no exposure yet and the prior is improper")
        rates.append(
            SiteRate(
                str(name), float(activation_days[name]), counts[name], exposures[name], posterior
            )
        )
    return RatePosterior(as_of_day, int(days.size), used_prior, source, tuple(rates))


def _future_exposure_months(posterior: RatePosterior, window_days: float) -> np.ndarray:
    """Months each centre is open in (as_of_day, as_of_day + window_days]."""
    opens_after = np.array(
        [max(s.activation_day - posterior.as_of_day, 0.0) for s in posterior.sites]
    )
    return np.maximum(window_days - opens_after, 0.0) / DAYS_PER_MONTH


def predicted_count_pmf(posterior: RatePosterior, window_days: float, max_count: int) -> np.ndarray:
    """P(k registrations in (as_of_day, as_of_day + window_days]) for k = 0..max_count: the
    convolution of the centres' negative binomials (exact, not truncated below max_count)."""
    if max_count < 0 or window_days < 0.0:
        raise ValueError("max_count and window_days must be >= 0")
    shapes = np.array([s.posterior.shape for s in posterior.sites])
    rates = np.array([s.posterior.rate_months for s in posterior.sites])
    exposures = _future_exposure_months(posterior, window_days)
    counts = np.arange(max_count + 1)
    per_site = stats.nbinom.pmf(
        counts[None, :], shapes[:, None], (rates / (rates + exposures))[:, None]
    )
    total = per_site[0]
    for site_pmf in per_site[1:]:
        # P(sum = k) for k <= max_count needs only each term's pmf up to max_count.
        total = np.convolve(total, site_pmf)[: max_count + 1]
    return total


def _single_gamma(posterior: RatePosterior) -> GammaRate | None:
    """The rate's gamma when one rate, open now, drives all future registrations."""
    if len(posterior.sites) == 1 and posterior.sites[0].activation_day <= posterior.as_of_day:
        return posterior.sites[0].posterior
    return None


def _remaining(posterior: RatePosterior, target: int) -> int:
    remaining = target - posterior.registered
    if remaining < 1:
        raise ValueError(f"target {target} already reached ({posterior.registered} registered)")
    return remaining


def _time_cdf(posterior: RatePosterior, remaining: int, months: float) -> float:
    """P(remaining more registrations within `months` of as_of_day)."""
    if months <= 0.0:
        return 0.0
    gamma = _single_gamma(posterior)
    if gamma is not None:
        return float(stats.betaprime.cdf(months / gamma.rate_months, remaining, gamma.shape))
    pmf = predicted_count_pmf(posterior, months * DAYS_PER_MONTH, remaining - 1)
    return float(max(0.0, 1.0 - pmf.sum()))


def probability_target_by(posterior: RatePosterior, target: int, day: float) -> float:
    """Posterior predictive probability that `target` registrations are reached by `day`."""
    remaining = _remaining(posterior, target)
    return _time_cdf(posterior, remaining, (day - posterior.as_of_day) / DAYS_PER_MONTH)


def _time_quantile_months(posterior: RatePosterior, remaining: int, probability: float) -> float:
    gamma = _single_gamma(posterior)
    if gamma is not None:
        return float(stats.betaprime.ppf(probability, remaining, gamma.shape) * gamma.rate_months)
    # Bracket: from the expected time at the posterior mean rate, doubled until it is enough.
    latest_opening = max(
        (s.activation_day - posterior.as_of_day) / DAYS_PER_MONTH for s in posterior.sites
    )
    mean_rate = sum(s.posterior.mean_per_month for s in posterior.sites)
    upper = max(latest_opening, 0.0) + remaining / mean_rate
    while _time_cdf(posterior, remaining, upper) < probability:
        upper *= 2.0
    return optimize.brentq(
        lambda months: _time_cdf(posterior, remaining, months) - probability,
        0.0,
        upper,
        xtol=1e-6,
        rtol=1e-10,
    )


def _time_mean_months(posterior: RatePosterior, remaining: int) -> float:
    gamma = _single_gamma(posterior)
    total_shape = sum(s.posterior.shape for s in posterior.sites)
    # P(tau > t) falls like t^-(total shape) (every centre must be slow), so the mean exists
    # only beyond shape 1.
    if total_shape <= 1.0:
        return math.inf
    if gamma is not None:
        # E[B X / Y] = B E[X] E[1/Y] = R B / (A - 1).
        return remaining * gamma.rate_months / (gamma.shape - 1.0)
    # E[tau] = integral over [0, inf) of P(tau > t) dt, by adaptive quadrature.
    mean_months, _ = integrate.quad(
        lambda months: 1.0 - _time_cdf(posterior, remaining, months),
        0.0,
        math.inf,
        limit=200,
        epsabs=1e-9,
        epsrel=1e-8,
    )
    return mean_months


def predict_target(
    posterior: RatePosterior,
    target: int,
    level: float = 0.9,
    deadline_day: float | None = None,
) -> TargetPrediction:
    """When `target` registrations will be reached: mean, median, equal-tailed prediction interval
    at `level`, and the probability of reaching it by deadline_day (days from opening)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    remaining = _remaining(posterior, target)
    tail = (1.0 - level) / 2.0

    def day_of(months: float) -> float:
        return posterior.as_of_day + months * DAYS_PER_MONTH

    by_deadline = None
    if deadline_day is not None:
        by_deadline = probability_target_by(posterior, target, deadline_day)
    return TargetPrediction(
        target=target,
        registered=posterior.registered,
        as_of_day=posterior.as_of_day,
        level=level,
        mean_day=day_of(_time_mean_months(posterior, remaining)),
        median_day=day_of(_time_quantile_months(posterior, remaining, 0.5)),
        lower_day=day_of(_time_quantile_months(posterior, remaining, tail)),
        upper_day=day_of(_time_quantile_months(posterior, remaining, 1.0 - tail)),
        deadline_day=deadline_day,
        probability_by_deadline=by_deadline,
    )
