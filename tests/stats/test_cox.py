"""Cox model with one binary covariate against a hand-worked case and R's survival::coxph
(survival 3.5.3, R 4.2.2, Debian r-cran-survival); outputs pasted in each test's docstring.

R stops Newton-Raphson when the log-likelihood changes by less than 1e-9 relatively; we iterate
to a step below 1e-10. The estimates then agree to far better than the 1e-7 relative tolerance
used here (R printed 12 significant digits).
"""

import math

import numpy as np
import pytest
from r_datasets import (
    AML_MAINTAINED,
    AML_STATUS,
    AML_TIME,
    OVARIAN_ECOG,
    OVARIAN_RX,
    OVARIAN_STATUS,
    OVARIAN_TIME,
    VETERAN_CELLTYPE,
    VETERAN_STATUS,
    VETERAN_TEST_ARM,
    VETERAN_TIME,
)

from sim.stats.cox import cox_binary, cox_from_table
from sim.stats.logrank import logrank_from_table, risk_table

R_TOLERANCE = 1e-7



def _check_against_r(result, coef, se, loglik_null, loglik):
    assert result.converged
    assert result.log_hr == pytest.approx(coef, rel=R_TOLERANCE)
    assert result.se == pytest.approx(se, rel=R_TOLERANCE)
    assert result.loglik_null == pytest.approx(loglik_null, rel=R_TOLERANCE)
    assert result.loglik == pytest.approx(loglik, rel=R_TOLERANCE)
    assert result.hazard_ratio == pytest.approx(math.exp(coef), rel=R_TOLERANCE)
    assert result.wald_z == pytest.approx(coef / se, rel=R_TOLERANCE)


def test_hand_worked_breslow_estimate_has_a_closed_form():
    """Control: events at 2 and 4, censored at 6; experimental: events at 4 and 7, censored at 5.
    With r = exp(beta), Breslow's log-likelihood terms (n0, n1 at risk; d events, d1 experimental):

      t = 2: (3, 3; 1, 0)   -log(3 + 3r)
      t = 4: (2, 3; 2, 1)   beta - 2 log(2 + 3r)
      t = 7: (0, 1; 1, 1)   beta - log(r) = 0
    Score: -r/(1 + r) + 1 - 6r/(2 + 3r) = 0, i.e. 6r^2 + 3r - 2 = 0, r = (sqrt(57) - 3)/12.
    Information: r/(1 + r)^2 + 2 * 3r * 2/(2 + 3r)^2 (sum of d p(1 - p)).
    """
    result = cox_binary([2, 4, 6, 4, 5, 7], [1, 1, 0, 1, 0, 1], [0, 0, 0, 1, 1, 1], ties="breslow")
    r = (math.sqrt(57.0) - 3.0) / 12.0
    information = r / (1 + r) ** 2 + 2 * (3 * r * 2) / (2 + 3 * r) ** 2
    assert result.hazard_ratio == pytest.approx(r, rel=1e-12)
    assert result.se == pytest.approx(1 / math.sqrt(information), rel=1e-12)
    assert result.loglik_null == pytest.approx(-math.log(6) - 2 * math.log(5), rel=1e-12)
    expected_loglik = -math.log(3 + 3 * r) + math.log(r) - 2 * math.log(2 + 3 * r)
    assert result.loglik == pytest.approx(expected_loglik, rel=1e-12)


def test_aml_matches_coxph_efron_and_breslow():
    """> library(survival)
    > aml$maintained <- as.integer(aml$x == "Maintained")
    > show <- function(fit) {
    +   print(fit)
    +   cat("coef:", format(coef(fit), digits = 12),
    +       " se:", format(sqrt(fit$var[1,1]), digits = 12),
    +       " loglik:", format(fit$loglik, digits = 12), " iter:", fit$iter, "\\n")
    + }
    > show(coxph(Surv(time, status) ~ maintained, data = aml, ties = "efron"))
                  coef exp(coef) se(coef)      z      p
    maintained -0.9155    0.4003   0.5119 -1.788 0.0737

    Likelihood ratio test=3.38  on 1 df, p=0.06581
    n= 23, number of events= 18
    coef: -0.915532575015  se: 0.511934275172  loglik: -42.7248392628 -41.0326155965  iter: 3
    > show(coxph(Surv(time, status) ~ maintained, data = aml, ties = "breslow"))
                  coef exp(coef) se(coef)      z      p
    maintained -0.9042    0.4049   0.5122 -1.765 0.0775

    Likelihood ratio test=3.3  on 1 df, p=0.06945
    n= 23, number of events= 18
    coef: -0.904219723686  se: 0.512247907304  loglik: -42.8981238972 -41.2501143501  iter: 3
    """
    efron = cox_binary(AML_TIME, AML_STATUS, AML_MAINTAINED)  # Efron is the default, as in R
    _check_against_r(efron, -0.915532575015, 0.511934275172, -42.7248392628, -41.0326155965)
    assert efron.p_two_sided == pytest.approx(0.0737, abs=5e-5)  # R printed 3 significant digits
    assert efron.ties == "efron"
    breslow = cox_binary(AML_TIME, AML_STATUS, AML_MAINTAINED, ties="breslow")
    _check_against_r(breslow, -0.904219723686, 0.512247907304, -42.8981238972, -41.2501143501)
    assert breslow.p_two_sided == pytest.approx(0.0775, abs=5e-5)
    # One-sided p for H1: HR < 1, and the 95% Wald interval, from R's printed coef and se.
    assert breslow.p_one_sided == pytest.approx(breslow.p_two_sided / 2, rel=1e-12)
    assert breslow.ci_lower == pytest.approx(
        math.exp(-0.904219723686 - 1.959963984540054 * 0.512247907304), rel=R_TOLERANCE
    )


def test_veteran_matches_coxph_with_and_without_strata():
    """Many tied death times (veteran: 137 patients, 128 events); veteran$test <- trt == 2.

    > show(coxph(Surv(time, status) ~ test, data = veteran, ties = "efron"))
            coef exp(coef) se(coef)     z     p
    test 0.01774   1.01790  0.18066 0.098 0.922

    Likelihood ratio test=0.01  on 1 df, p=0.9218
    n= 137, number of events= 128
    coef: 0.0177425695187  se: 0.180661012288  loglik: -505.449054918 -505.444233229  iter: 2
    > show(coxph(Surv(time, status) ~ test, data = veteran, ties = "breslow"))
            coef exp(coef) se(coef)    z     p
    test 0.01633   1.01646  0.18065 0.09 0.928

    Likelihood ratio test=0.01  on 1 df, p=0.928
    n= 137, number of events= 128
    coef: 0.0163278716523  se: 0.180651614835  loglik: -505.883956283 -505.879872366  iter: 2
    > show(coxph(Surv(time, status) ~ test + strata(celltype), data = veteran, ties = "efron"))
           coef exp(coef) se(coef)     z     p
    test 0.1691    1.1842   0.1982 0.853 0.394

    Likelihood ratio test=0.73  on 1 df, p=0.3938
    n= 137, number of events= 128
    coef: 0.169063909128  se: 0.198235612566  loglik: -338.736207226 -338.372624069  iter: 3
    > show(coxph(Surv(time, status) ~ test + strata(celltype), data = veteran, ties = "breslow"))
           coef exp(coef) se(coef)     z     p
    test 0.1652    1.1796   0.1981 0.834 0.404

    Likelihood ratio test=0.7  on 1 df, p=0.4043
    n= 137, number of events= 128
    coef: 0.165193737431  se: 0.198066462843  loglik: -339.141598423 -338.793882217  iter: 3
    (show() as in the aml test; print()'s echo of the call is left out in these docstrings.)
    """
    args = (VETERAN_TIME, VETERAN_STATUS, VETERAN_TEST_ARM)
    _check_against_r(
        cox_binary(*args, ties="efron"),
        0.0177425695187, 0.180661012288, -505.449054918, -505.444233229,
    )
    _check_against_r(
        cox_binary(*args, ties="breslow"),
        0.0163278716523, 0.180651614835, -505.883956283, -505.879872366,
    )
    _check_against_r(
        cox_binary(*args, strata=VETERAN_CELLTYPE, ties="efron"),
        0.169063909128, 0.198235612566, -338.736207226, -338.372624069,
    )
    _check_against_r(
        cox_binary(*args, strata=VETERAN_CELLTYPE, ties="breslow"),
        0.165193737431, 0.198066462843, -339.141598423, -338.793882217,
    )


def test_ovarian_stratified_matches_coxph():
    """> ovarian$rx2 <- as.integer(ovarian$rx == 2)
    > show(coxph(Surv(futime, fustat) ~ rx2 + strata(ecog.ps), data = ovarian))
           coef exp(coef) se(coef)      z     p
    rx2 -0.5118    0.5994   0.5902 -0.867 0.386

    Likelihood ratio test=0.77  on 1 df, p=0.3817
    n= 26, number of events= 12
    coef: -0.511845838661  se: 0.590190578842  loglik: -26.7781862393 -26.3955961670  iter: 2
    """
    result = cox_binary(OVARIAN_TIME, OVARIAN_STATUS, OVARIAN_RX == 2, strata=OVARIAN_ECOG)
    _check_against_r(result, -0.511845838661, 0.590190578842, -26.7781862393, -26.3955961670)


def test_efron_equals_breslow_without_tied_event_times():
    """Efron (1977) differs from Breslow only at tied event times; continuous times have none."""
    rng = np.random.default_rng(11)
    experimental = rng.random(300) < 0.5
    event_time = rng.exponential(np.where(experimental, 1.5, 1.0))
    censor_time = rng.uniform(0.0, 2.0, 300)
    time = np.minimum(event_time, censor_time)
    table = risk_table(time, event_time <= censor_time, experimental)
    assert table.events.max() == 1
    efron = cox_from_table(table, ties="efron")
    breslow = cox_from_table(table, ties="breslow")
    assert efron.log_hr == pytest.approx(breslow.log_hr, rel=1e-12)
    assert efron.se == pytest.approx(breslow.se, rel=1e-12)


def test_monotone_likelihood_reports_an_infinite_estimate():
    """No experimental events: the partial likelihood increases as beta -> -inf (no finite MLE;
    R's coxph warns that the coefficient may be infinite). Likewise +inf when every experimental
    patient has died before any control event."""
    none_experimental = cox_binary([1, 2, 3, 4], [1, 1, 0, 0], [0, 0, 1, 1])
    assert none_experimental.log_hr == -math.inf and not none_experimental.converged
    assert none_experimental.hazard_ratio == 0.0
    experimental_first = cox_binary([1, 2, 3, 4], [1, 1, 1, 1], [1, 1, 0, 0])
    assert experimental_first.log_hr == math.inf and not experimental_first.converged
    no_events = cox_binary([1, 2], [0, 0], [0, 1])
    assert no_events.events == 0 and math.isnan(no_events.log_hr)


def test_unknown_ties_method_is_refused():
    with pytest.raises(ValueError, match="ties"):
        cox_binary(AML_TIME, AML_STATUS, AML_MAINTAINED, ties="exact")


def _brute_force_loglik(beta, time, event, experimental, ties):
    """The partial log-likelihood written subject by subject (Cox 1972; Efron 1977), O(n^2)."""
    total = 0.0
    risk = np.exp(beta * experimental)
    for t in np.unique(time[event]):
        dying = event & (time == t)
        at_risk = risk[time >= t].sum()
        tied = risk[dying].sum()
        deaths = int(dying.sum())
        total += beta * experimental[dying].sum()
        if ties == "breslow":
            total -= deaths * math.log(at_risk)
        else:
            total -= sum(math.log(at_risk - k / deaths * tied) for k in range(deaths))
    return total


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_estimate_maximises_the_brute_force_partial_likelihood(ties, monkeypatch):
    """Small unbalanced trials with hazard ratios up to e^4 either way and tied times (rounded
    to 0.1): the estimate must maximise the partial likelihood computed subject by subject
    (maximised independently by scipy's bounded scalar minimiser, xatol 1e-10). Some of these
    data sets make a full Newton step overshoot; a spy checks the bisection guard was used.
    """
    from scipy.optimize import minimize_scalar

    import sim.stats.cox as cox_module

    bisections = []
    unspied = cox_module._midpoint
    monkeypatch.setattr(
        cox_module, "_midpoint", lambda *args: bisections.append(args) or unspied(*args)
    )
    rng = np.random.default_rng(7)
    checked = 0
    while checked < 40:
        n_control, n_experimental = rng.integers(1, 30, size=2)
        hazard_ratio = math.exp(rng.uniform(-4.0, 4.0))
        time = np.round(
            np.concatenate(
                (
                    rng.exponential(1.0, n_control),
                    rng.exponential(1.0 / hazard_ratio, n_experimental),
                )
            ),
            1,
        )
        experimental = np.repeat([0.0, 1.0], [n_control, n_experimental])
        event = rng.random(time.size) < 0.8
        result = cox_binary(time, event, experimental, ties=ties)
        if not result.converged:
            continue  # monotone likelihood: no finite maximum to compare
        checked += 1
        best = minimize_scalar(
            lambda beta, t=time, e=event, x=experimental: -_brute_force_loglik(beta, t, e, x, ties),
            bounds=(-15.0, 15.0),
            method="bounded",
            options={"xatol": 1e-10},
        )
        assert result.log_hr == pytest.approx(best.x, abs=1e-6)
        assert result.loglik == pytest.approx(-best.fun, rel=1e-10)
    assert bisections, "no data set exercised the bisection guard"


@pytest.mark.parametrize("seed", range(6))
def test_a_start_near_the_answer_reaches_the_same_maximum(seed):
    """Newton-Raphson from the log-rank (O - E) / V (the replicate loop's start) converges to
    coxph's estimate from 0, with fewer iterations; with_loglik=False leaves the log-likelihoods
    out and nothing else."""
    rng = np.random.default_rng(seed)
    group = rng.random(300) < 0.5
    time = rng.exponential(np.where(group, 1.6, 1.0))
    if seed % 2:
        time = np.ceil(time * 4)  # tied event times: Efron
    event = rng.random(300) < 0.8
    table = risk_table(time, event, group)
    start = math.log(logrank_from_table(table).hazard_ratio)
    reference = cox_from_table(table)
    fit = cox_from_table(table, initial_log_hr=start, with_loglik=False)
    assert fit.log_hr == pytest.approx(reference.log_hr, abs=1e-9)
    assert fit.se == pytest.approx(reference.se, rel=1e-9)
    assert fit.iterations <= reference.iterations
    assert math.isnan(fit.loglik) and math.isnan(fit.loglik_null)
