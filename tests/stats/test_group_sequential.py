"""Group-sequential boundaries against published tables, rpact and simulation.

Sources:
- Jennison, C. and Turnbull, B. W. (2000). Group Sequential Methods with Applications to Clinical
  Trials. Chapman & Hall/CRC. Table 2.1 (Pocock constants C_P(K, alpha), chapter 2) and
  Table 2.3 (O'Brien-Fleming constants C_B(K, alpha), chapter 2): two-sided tests, equally
  spaced looks, three decimals.
- rpact 3.3.4 (R 4.2.2, Debian r-cran-rpact), getDesignGroupSequential with sided = 1 (its
  default); outputs pasted in each test's docstring. rpact solves to a tolerance of 1e-8, which
  is why its final alphaSpent prints as 0.02499999.
- R mvtnorm::pmvnorm (Genz-Bretz) for one multivariate normal probability.
The issue sets the tolerance on boundaries at 1e-3; probabilities are compared at 1e-6, far
above both programs' numerical error (~1e-8) and far below any error that matters.
"""

import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import ndtri

from sim.stats.group_sequential import (
    BetaSpendingFutility,
    FixedFutility,
    HaybittlePeto,
    RuleParameterError,
    SpendingFunction,
    WangTsiatis,
    crossing_probabilities,
    drift_for_power,
    efficacy_rule,
    group_sequential_boundaries,
)

BOUNDARY_TOLERANCE = 1e-3  # the tolerance for z-boundaries
PROBABILITY_TOLERANCE = 1e-6

OF_SPENDING = SpendingFunction("obrien-fleming")
POCOCK_SPENDING = SpendingFunction("pocock")


def equally_spaced(looks: int) -> list[float]:
    return [(k + 1) / looks for k in range(looks)]


# Jennison and Turnbull (2000), Table 2.1: Pocock C_P(K, alpha), K = 2..5, two-sided alpha.
JT_TABLE_2_1_POCOCK = {
    0.01: (2.772, 2.873, 2.939, 2.986),
    0.05: (2.178, 2.289, 2.361, 2.413),
    0.10: (1.875, 1.992, 2.067, 2.122),
}
# Jennison and Turnbull (2000), Table 2.3: O'Brien-Fleming C_B(K, alpha), K = 2..5, two-sided.
JT_TABLE_2_3_OBRIEN_FLEMING = {
    0.01: (2.580, 2.595, 2.609, 2.621),
    0.05: (1.977, 2.004, 2.024, 2.040),
    0.10: (1.678, 1.710, 1.733, 1.751),
}


@pytest.mark.parametrize(
    ("delta", "table"),
    [(0.5, JT_TABLE_2_1_POCOCK), (0.0, JT_TABLE_2_3_OBRIEN_FLEMING)],
    ids=["pocock-table-2.1", "obrien-fleming-table-2.3"],
)
def test_two_sided_classical_constants_match_jennison_turnbull(delta, table):
    """The tables are two-sided: stop when |Z_k| >= C (K/k)^(1/2 - delta); size alpha.

    A symmetric two-sided test is the one-sided recursion with the lower bound at -b_k, both
    bounds stopping; its size is the sum of upper and lower exits. The constant is solved here
    with crossing_probabilities and compared with the published value.
    """
    for two_sided_alpha, constants in table.items():
        for looks, published in zip(range(2, 6), constants, strict=True):
            constant = _two_sided_constant(equally_spaced(looks), delta, two_sided_alpha)
            assert constant == pytest.approx(published, abs=BOUNDARY_TOLERANCE), (looks, delta)


def _two_sided_constant(fractions, delta, two_sided_alpha):
    shape = np.array(fractions) ** (delta - 0.5)

    def size_excess(constant):
        bounds = constant * shape
        crossing = crossing_probabilities(fractions, bounds, -bounds, drift=0.0)
        return sum(crossing.efficacy) + sum(crossing.futility) - two_sided_alpha

    return brentq(size_excess, 1.0, 4.0, xtol=1e-9)


@pytest.mark.parametrize(
    ("delta", "table"),
    [(0.5, JT_TABLE_2_1_POCOCK), (0.0, JT_TABLE_2_3_OBRIEN_FLEMING)],
    ids=["pocock-table-2.1", "obrien-fleming-table-2.3"],
)
def test_one_sided_classical_boundaries_at_half_alpha_match_jennison_turnbull(delta, table):
    """The one-sided test at alpha/2 differs from the two-sided one only through paths that
    would cross the lower bound before the upper one, which are rare at these bounds (the two
    constants differ by at most 4e-5 over these tables); both agree with the table within the
    issue's 1e-3. C is the final bound (b_K = C for both shapes).
    """
    for two_sided_alpha, constants in table.items():
        for looks, published in zip(range(2, 6), constants, strict=True):
            result = group_sequential_boundaries(
                equally_spaced(looks), two_sided_alpha / 2, WangTsiatis(delta)
            )
            assert result.efficacy_z[-1] == pytest.approx(published, abs=BOUNDARY_TOLERANCE)
            expected_shape = [math.sqrt(looks / (k + 1)) ** (1 - 2 * delta) for k in range(looks)]
            assert np.allclose(
                np.array(result.efficacy_z) / result.efficacy_z[-1], expected_shape, atol=1e-12
            )


def test_lan_demets_spending_boundaries_match_rpact():
    """rpact 3.3.4 getDesignGroupSequential, sided = 1:

    > f <- function(d) cat(format(d$criticalValues, digits = 10), "|",
    +                      format(d$alphaSpent, digits = 10), "\\n")
    > f(getDesignGroupSequential(kMax = 5, alpha = 0.025, typeOfDesign = "asOF"))
    4.876884949 3.357011922 2.680280067 2.289816774 2.031032063 | 5.388712629e-07
      3.941517591e-04 3.808063251e-03 1.221179019e-02 2.499999000e-02
    > f(getDesignGroupSequential(kMax = 4, alpha = 0.025, typeOfDesign = "asP",
    +   informationRates = c(0.25, 0.5, 0.8, 1)))
    2.368327704 2.367524289 2.327061616 2.369728945 | 0.008934350488 0.015502862820
      0.021620993066 0.025000000000
    > f(getDesignGroupSequential(kMax = 3, alpha = 0.025, typeOfDesign = "asHSD", gammaA = -4,
    +   informationRates = c(0.4, 0.7, 1)))
    2.903713238 2.501501985 2.003788270 | 0.001843828762 0.007203908393 0.025000000000
    > f(getDesignGroupSequential(kMax = 3, alpha = 0.05, typeOfDesign = "asHSD", gammaA = 1))
    2.006114001 1.982674427 1.985613815 | 0.02242204319 0.03848813948 0.04999999000
    > f(getDesignGroupSequential(kMax = 4, alpha = 0.025, typeOfDesign = "asKD", gammaA = 2))
    2.955166847 2.559350155 2.300855316 2.091966860 | 0.001562500000 0.006249999988
      0.014062499917 0.025000000000
    """
    cases = [
        (
            equally_spaced(5), 0.025, OF_SPENDING,
            [4.876884949, 3.357011922, 2.680280067, 2.289816774, 2.031032063],
            [5.388712629e-07, 3.941517591e-04, 3.808063251e-03, 1.221179019e-02, 0.025],
        ),
        (
            [0.25, 0.5, 0.8, 1.0], 0.025, POCOCK_SPENDING,
            [2.368327704, 2.367524289, 2.327061616, 2.369728945],
            [0.008934350488, 0.015502862820, 0.021620993066, 0.025],
        ),
        (
            [0.4, 0.7, 1.0], 0.025, SpendingFunction("hwang-shih-decani", -4.0),
            [2.903713238, 2.501501985, 2.003788270],
            [0.001843828762, 0.007203908393, 0.025],
        ),
        (
            equally_spaced(3), 0.05, SpendingFunction("hwang-shih-decani", 1.0),
            [2.006114001, 1.982674427, 1.985613815],
            [0.02242204319, 0.03848813948, 0.05],
        ),
        (
            equally_spaced(4), 0.025, SpendingFunction("kim-demets", 2.0),
            [2.955166847, 2.559350155, 2.300855316, 2.091966860],
            [0.0015625, 0.006249999988, 0.014062499917, 0.025],
        ),
    ]
    for fractions, alpha, spending, rpact_z, rpact_alpha_spent in cases:
        result = group_sequential_boundaries(fractions, alpha, spending)
        assert result.efficacy_z == pytest.approx(rpact_z, abs=BOUNDARY_TOLERANCE), spending
        assert result.alpha_spent == pytest.approx(rpact_alpha_spent, abs=PROBABILITY_TOLERANCE)
        assert result.efficacy_p == pytest.approx(
            [float(1 - _phi(z)) for z in rpact_z], abs=PROBABILITY_TOLERANCE
        )


def _phi(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def test_classical_and_haybittle_peto_boundaries_match_rpact():
    """rpact 3.3.4 getDesignGroupSequential, sided = 1 (f as in the spending test):

    > f(getDesignGroupSequential(kMax = 5, alpha = 0.025, typeOfDesign = "OF"))
    4.561742327 3.225638934 2.633723161 2.280871164 2.040073188 | 2.536544076e-06
      6.295298680e-04 4.451805976e-03 1.279229890e-02 2.499999000e-02
    > f(getDesignGroupSequential(kMax = 5, alpha = 0.025, typeOfDesign = "P"))
    2.413180287 2.413180287 2.413180287 2.413180287 2.413180287 | 0.007906997547
      0.013762839800 0.018272135157 0.021927252789 0.025000000000
    > f(getDesignGroupSequential(kMax = 3, alpha = 0.025, typeOfDesign = "WT", deltaWT = 0.25,
    +   informationRates = c(0.3, 0.6, 1)))
    2.800306150 2.354767403 2.072458429 | 0.002552708057 0.010774461088 0.024999990000
    > f(getDesignGroupSequential(kMax = 3, alpha = 0.025, typeOfDesign = "HP"))
    3.000000000 3.000000000 1.975097633 | 0.001349898032 0.002461741611 0.024999990000
    """
    cases = [
        (
            equally_spaced(5), WangTsiatis(0.0),
            [4.561742327, 3.225638934, 2.633723161, 2.280871164, 2.040073188],
            [2.536544076e-06, 6.295298680e-04, 4.451805976e-03, 1.279229890e-02, 0.025],
        ),
        (
            equally_spaced(5), WangTsiatis(0.5),
            [2.413180287] * 5,
            [0.007906997547, 0.013762839800, 0.018272135157, 0.021927252789, 0.025],
        ),
        (
            [0.3, 0.6, 1.0], WangTsiatis(0.25),
            [2.800306150, 2.354767403, 2.072458429],
            [0.002552708057, 0.010774461088, 0.025],
        ),
        (
            equally_spaced(3), HaybittlePeto(),
            [3.0, 3.0, 1.975097633],
            [0.001349898032, 0.002461741611, 0.025],
        ),
    ]
    for fractions, rule, rpact_z, rpact_alpha_spent in cases:
        result = group_sequential_boundaries(fractions, 0.025, rule)
        assert result.efficacy_z == pytest.approx(rpact_z, abs=BOUNDARY_TOLERANCE), rule
        assert result.alpha_spent == pytest.approx(rpact_alpha_spent, abs=PROBABILITY_TOLERANCE)


def test_unadjusted_haybittle_peto_size_matches_mvtnorm():
    """Peto's rule with the final look at z_{0.975}: size from R's mvtnorm (Genz-Bretz):

    > t <- c(1, 2, 3) / 3
    > sigma <- outer(t, t, function(s, u) sqrt(pmin(s, u) / pmax(s, u)))
    > set.seed(1)
    > p <- pmvnorm(upper = c(3, 3, qnorm(0.975)), corr = sigma,
    +              algorithm = GenzBretz(abseps = 1e-9, maxpts = 1e7))
    > print(1 - p, digits = 10)
    [1] 0.02585584268
    attr(,"error")
    [1] 4.900836319e-10
    """
    result = group_sequential_boundaries(
        equally_spaced(3), 0.025, HaybittlePeto(3.0, adjust_final=False)
    )
    assert result.efficacy_z == pytest.approx([3.0, 3.0, float(ndtri(0.975))], abs=1e-12)
    assert result.alpha_spent[-1] == pytest.approx(0.02585584268, abs=PROBABILITY_TOLERANCE)


def test_futility_bounds_match_rpact():
    """rpact 3.3.4 getDesignGroupSequential, sided = 1, with futility; shift = drift^2 from
    getDesignCharacteristics:

    > f <- function(d) cat(format(d$criticalValues, digits = 10), "|",
    +   format(d$futilityBounds, digits = 10), "|", format(d$betaSpent, digits = 10), "\\n")
    > f(getDesignGroupSequential(kMax = 3, alpha = 0.025, beta = 0.2, typeOfDesign = "asOF",
    +   typeBetaSpending = "bsOF", bindingFutility = FALSE))
    3.710302873 2.511427484 1.993047483 | -0.2361446099  1.1703720312 | 0.02643829477
      0.11651431896 0.19999999882
    > f(getDesignGroupSequential(kMax = 3, alpha = 0.025, beta = 0.1, typeOfDesign = "asOF",
    +   typeBetaSpending = "bsOF", bindingFutility = TRUE))
    3.710302873 2.511394553 1.958784379 | -0.7133670455  0.9758355371 | 0.004386100878
      0.043954332903 0.100000000311
    > f(getDesignGroupSequential(kMax = 4, alpha = 0.025, beta = 0.2, typeOfDesign = "asP",
    +   typeBetaSpending = "bsP", bindingFutility = TRUE, informationRates = c(0.3, 0.5, 0.75, 1)))
    2.311835304 2.395384111 2.324608676 2.188888423 | 0.3927904676 0.9175775978 1.5655689337 |
      0.08314704437 0.12402290125 0.16559778782 0.20000000037
    > f(getDesignGroupSequential(kMax = 3, alpha = 0.025, beta = 0.1, typeOfDesign = "asHSD",
    +   gammaA = -4, typeBetaSpending = "bsHSD", gammaB = -2, bindingFutility = FALSE))
    3.010739485 2.546530552 1.999226354 | -0.2387240311  0.9410672407 | 0.01483370991
      0.04372583186 0.10000000113
    > f(getDesignGroupSequential(kMax = 3, alpha = 0.025, typeOfDesign = "asOF",
    +   futilityBounds = c(0, 0.5), bindingFutility = TRUE))
    3.710302873 2.510358103 1.964951955 | 0.0 0.5 | NA NA NA
    > # getDesignCharacteristics(<the first four designs, in order>)$shift
    8.667784932 10.91497663 10.52577172 11.24171455
    """
    hsd = SpendingFunction("hwang-shih-decani", -4.0)
    cases = [
        (
            equally_spaced(3), OF_SPENDING, BetaSpendingFutility(OF_SPENDING, 0.2), False,
            [3.710302873, 2.511427484, 1.993047483],
            [-0.2361446099, 1.1703720312],
            [0.02643829477, 0.11651431896, 0.2],
            8.667784932,
        ),
        (
            equally_spaced(3), OF_SPENDING, BetaSpendingFutility(OF_SPENDING, 0.1), True,
            [3.710302873, 2.511394553, 1.958784379],
            [-0.7133670455, 0.9758355371],
            [0.004386100878, 0.043954332903, 0.1],
            10.91497663,
        ),
        (
            [0.3, 0.5, 0.75, 1.0], POCOCK_SPENDING, BetaSpendingFutility(POCOCK_SPENDING, 0.2),
            True,
            [2.311835304, 2.395384111, 2.324608676, 2.188888423],
            [0.3927904676, 0.9175775978, 1.5655689337],
            [0.08314704437, 0.12402290125, 0.16559778782, 0.2],
            10.52577172,
        ),
        (
            equally_spaced(3), hsd,
            BetaSpendingFutility(SpendingFunction("hwang-shih-decani", -2.0), 0.1), False,
            [3.010739485, 2.546530552, 1.999226354],
            [-0.2387240311, 0.9410672407],
            [0.01483370991, 0.04372583186, 0.1],
            11.24171455,
        ),
    ]
    for fractions, spending, futility, binding, rpact_z, rpact_futility, rpact_beta, shift in cases:
        result = group_sequential_boundaries(
            fractions, 0.025, spending, futility, binding=binding
        )
        assert result.efficacy_z == pytest.approx(rpact_z, abs=BOUNDARY_TOLERANCE)
        assert result.futility_z[:-1] == pytest.approx(rpact_futility, abs=BOUNDARY_TOLERANCE)
        assert result.futility_z[-1] == result.efficacy_z[-1]  # the bounds meet at the end
        assert result.beta_spent == pytest.approx(rpact_beta, abs=PROBABILITY_TOLERANCE)
        assert result.drift**2 == pytest.approx(shift, abs=BOUNDARY_TOLERANCE)
        assert result.binding is binding

    fixed = group_sequential_boundaries(
        equally_spaced(3), 0.025, OF_SPENDING, FixedFutility((0.0, 0.5)), binding=True
    )
    assert fixed.efficacy_z == pytest.approx(
        [3.710302873, 2.510358103, 1.964951955], abs=BOUNDARY_TOLERANCE
    )
    assert fixed.futility_z == pytest.approx([0.0, 0.5, fixed.efficacy_z[-1]], abs=1e-12)
    assert fixed.beta_spent is None  # no drift given


def test_one_look_is_the_fixed_sample_test():
    """K = 1: b = z_{1-alpha}; with beta spending the bounds meet where the power is 1 - beta,
    at drift z_{1-alpha} + z_{1-beta} (the fixed-sample formula, e.g. Schoenfeld's)."""
    result = group_sequential_boundaries(
        [1.0], 0.025, OF_SPENDING, BetaSpendingFutility(POCOCK_SPENDING, 0.1)
    )
    assert result.efficacy_z[0] == pytest.approx(ndtri(0.975), abs=1e-9)
    assert result.futility_z == result.efficacy_z
    assert result.drift == pytest.approx(ndtri(0.975) + ndtri(0.9), abs=1e-8)
    assert result.beta_spent[0] == pytest.approx(0.1, abs=PROBABILITY_TOLERANCE)


def test_interim_recomputation_with_fixed_binding_futility_matches_rpact():
    """The first two looks of rpact's asOF design with binding futility (0, 0.5), pasted in
    test_futility_bounds_match_rpact: 3.710302873 2.510358103 1.964951955 | 0.0 0.5."""
    interim = group_sequential_boundaries(
        [1 / 3, 2 / 3], 0.025, OF_SPENDING, FixedFutility((0.0, 0.5)),
        binding=True, last_is_final=False,
    )
    assert interim.efficacy_z == pytest.approx([3.710302873, 2.510358103], abs=BOUNDARY_TOLERANCE)
    assert interim.futility_z == (0.0, 0.5)


def test_observed_information_matches_rpact_user_spending():
    """Planned asOF, 3 looks; observed fractions (of the planned maximum) 0.3, 0.62 and a final
    look that overran (1.08) or fell short (0.93). Bounds depend only on the correlations
    sqrt(t_j / t_k) and the alpha spent, so rpact's user-defined spending at the rescaled
    fractions is the same design:

    > a <- 2 * (1 - pnorm(qnorm(1 - 0.025 / 2) / sqrt(c(0.3, 0.62))))
    > d <- getDesignGroupSequential(kMax = 3, alpha = 0.025, typeOfDesign = "asUser",
    +   informationRates = c(0.3, 0.62, 1.08) / 1.08, userAlphaSpending = c(a, 0.025))
    > cat("criticalValues:", format(d$criticalValues, digits = 10), "\\n")
    criticalValues: 3.928572543 2.619425945 1.988840170
    > d <- getDesignGroupSequential(kMax = 3, alpha = 0.025, typeOfDesign = "asUser",
    +   informationRates = c(0.3, 0.62, 0.93) / 0.93, userAlphaSpending = c(a, 0.025))
    > cat("criticalValues:", format(d$criticalValues, digits = 10), "\\n")
    criticalValues: 3.928572543 2.619425945 1.979698367
    """
    overrun = group_sequential_boundaries([0.3, 0.62, 1.08], 0.025, OF_SPENDING)
    assert overrun.efficacy_z == pytest.approx(
        [3.928572543, 2.619425945, 1.988840170], abs=BOUNDARY_TOLERANCE
    )
    short = group_sequential_boundaries([0.3, 0.62, 0.93], 0.025, OF_SPENDING)
    assert short.efficacy_z == pytest.approx(
        [3.928572543, 2.619425945, 1.979698367], abs=BOUNDARY_TOLERANCE
    )
    assert short.alpha_spent[-1] == pytest.approx(0.025, abs=PROBABILITY_TOLERANCE)
    # At the second look of three, the bounds so far are the same as in the finished trial.
    interim = group_sequential_boundaries([0.3, 0.62], 0.025, OF_SPENDING, last_is_final=False)
    assert interim.efficacy_z == pytest.approx([3.928572543, 2.619425945], abs=BOUNDARY_TOLERANCE)
    assert interim.alpha_spent[-1] == pytest.approx(
        OF_SPENDING.cumulative([0.62], 0.025)[0], abs=PROBABILITY_TOLERANCE
    )


def test_power_crossing_and_expected_information_match_rpact():
    """rpact 3.3.4 for asOF, 3 equally spaced looks, 90% power:

    > d <- getDesignGroupSequential(kMax = 3, alpha = 0.025, beta = 0.1, typeOfDesign = "asOF")
    > ch <- getDesignCharacteristics(d)
    > cat(format(c(ch$shift, ch$inflationFactor), digits = 10), "\\n")
    10.631965059  1.011852763
    > p <- getPowerAndAverageSampleNumber(d, theta = c(0, sqrt(ch$shift)), nMax = 1)
    > print(p$rejectPerStage, digits = 10)
                         [,1]          [,2]
    stage = 1 0.0001035057181 0.03379320185
    stage = 2 0.0059448833591 0.52651370907
    stage = 3 0.0189516106199 0.33969308908
    > print(p$averageSampleNumber, digits = 10)
    [1] 0.9979493674 0.8019666281
    """
    design = group_sequential_boundaries(equally_spaced(3), 0.025, OF_SPENDING)
    drift = drift_for_power(design.information_fractions, design.efficacy_z, 0.9)
    assert drift**2 == pytest.approx(10.631965059, abs=BOUNDARY_TOLERANCE)
    inflation = (drift / (ndtri(0.975) + ndtri(0.9))) ** 2
    assert inflation == pytest.approx(1.011852763, abs=1e-5)

    under_null = crossing_probabilities(design.information_fractions, design.efficacy_z, drift=0)
    assert under_null.efficacy == pytest.approx(
        [0.0001035057181, 0.0059448833591, 0.0189516106199], abs=PROBABILITY_TOLERANCE
    )
    assert under_null.expected_information_fraction == pytest.approx(
        0.9979493674, abs=PROBABILITY_TOLERANCE
    )
    under_drift = crossing_probabilities(
        design.information_fractions, design.efficacy_z, drift=drift
    )
    assert under_drift.efficacy == pytest.approx(
        [0.03379320185, 0.52651370907, 0.33969308908], abs=PROBABILITY_TOLERANCE
    )
    assert under_drift.rejection == pytest.approx(0.9, abs=PROBABILITY_TOLERANCE)
    assert under_drift.expected_information_fraction == pytest.approx(
        0.8019666281, abs=PROBABILITY_TOLERANCE
    )


def _simulate_z(rng: np.random.Generator, fractions, drift: float, replicates: int):
    """Z_k of the canonical joint distribution: S_k = Z_k sqrt(t_k) has independent increments
    N(drift * dt, dt) (Jennison and Turnbull 2000, chapter 3)."""
    fractions = np.asarray(fractions)
    steps = np.diff(np.concatenate(([0.0], fractions)))
    increments = rng.normal(drift * steps, np.sqrt(steps), size=(replicates, fractions.size))
    return np.cumsum(increments, axis=1) / np.sqrt(fractions)


def _first_crossings(z, efficacy, futility):
    """Per-look proportions of paths first stopping above efficacy / below futility."""
    above = z >= np.asarray(efficacy)
    below = z <= np.asarray(futility)
    stopped = above | below
    first = np.where(stopped.any(axis=1), stopped.argmax(axis=1), -1)
    looks = z.shape[1]
    rows = np.arange(z.shape[0])
    efficacy_at = np.bincount(first[(first >= 0) & above[rows, first]], minlength=looks)
    futility_at = np.bincount(
        first[(first >= 0) & ~above[rows, first] & below[rows, first]], minlength=looks
    )
    return efficacy_at / z.shape[0], futility_at / z.shape[0]


def test_simulated_crossing_probabilities_agree_within_three_standard_errors():
    """Monte Carlo (fixed seed, 10^6 paths; SE of a proportion p is sqrt(p(1-p)/n), 1.6e-4 at
    p = 0.025): the type I error of a non-binding asOF/bsOF design ignoring futility is alpha,
    and its per-look crossings under the design drift, futility obeyed, are those computed."""
    replicates = 1_000_000
    rng = np.random.default_rng(20240611)
    design = group_sequential_boundaries(
        [0.25, 0.5, 0.75, 1.0], 0.025, OF_SPENDING, BetaSpendingFutility(OF_SPENDING, 0.2)
    )
    no_floor = [-math.inf] * 4

    def within_three_se(simulated, expected):
        se = math.sqrt(expected * (1.0 - expected) / replicates)
        return abs(simulated - expected) <= 3.0 * se

    z_null = _simulate_z(rng, design.information_fractions, 0.0, replicates)
    efficacy_null, _ = _first_crossings(z_null, design.efficacy_z, no_floor)
    assert within_three_se(efficacy_null.sum(), 0.025), efficacy_null.sum()

    z_alt = _simulate_z(rng, design.information_fractions, design.drift, replicates)
    efficacy_alt, futility_alt = _first_crossings(z_alt, design.efficacy_z, design.futility_z)
    computed = crossing_probabilities(
        design.information_fractions, design.efficacy_z, design.futility_z, design.drift
    )
    assert within_three_se(efficacy_alt.sum(), 0.8), efficacy_alt.sum()
    for look in range(4):
        assert within_three_se(efficacy_alt[look], computed.efficacy[look])
        assert within_three_se(futility_alt[look], computed.futility[look])


def test_binding_futility_size_is_alpha_only_when_the_futility_bound_is_obeyed():
    """What binding means (rpact's bindingFutility): the size is alpha when the trial stops at
    every futility bound, and exceeds alpha if they are ignored. Non-binding: alpha when ignored."""
    futility = BetaSpendingFutility(POCOCK_SPENDING, 0.2)
    fractions = [0.3, 0.5, 0.75, 1.0]
    binding = group_sequential_boundaries(fractions, 0.025, POCOCK_SPENDING, futility, binding=True)
    obeyed = crossing_probabilities(fractions, binding.efficacy_z, binding.futility_z)
    ignored = crossing_probabilities(fractions, binding.efficacy_z)
    assert obeyed.rejection == pytest.approx(0.025, abs=PROBABILITY_TOLERANCE)
    assert ignored.rejection > 0.025 + 1e-4

    nonbinding = group_sequential_boundaries(fractions, 0.025, POCOCK_SPENDING, futility)
    assert crossing_probabilities(fractions, nonbinding.efficacy_z).rejection == pytest.approx(
        0.025, abs=PROBABILITY_TOLERANCE
    )


def test_default_grid_agrees_with_a_four_times_finer_grid():
    """Jennison and Turnbull (2000, chapter 19): the integration error falls quickly with r;
    r = 16 (default) and r = 64 agree far inside the 1e-3 tolerance."""
    fractions = [0.2, 0.45, 0.7, 1.0]
    futility = BetaSpendingFutility(SpendingFunction("hwang-shih-decani", -2.0), 0.15)
    coarse = group_sequential_boundaries(
        fractions, 0.025, OF_SPENDING, futility, binding=True, grid_r=16
    )
    fine = group_sequential_boundaries(
        fractions, 0.025, OF_SPENDING, futility, binding=True, grid_r=64
    )
    assert coarse.efficacy_z == pytest.approx(fine.efficacy_z, abs=1e-5)
    assert coarse.futility_z == pytest.approx(fine.futility_z, abs=1e-5)


def test_spending_functions_follow_their_formulas():
    """Lan and DeMets (1983), Hwang, Shih and DeCani (1990), Kim and DeMets (1987)."""
    t = np.array([0.0, 0.25, 0.5, 1.0, 1.3])
    alpha = 0.025
    z = ndtri(1 - alpha / 2)
    of_expected = [0.0] + [2 * (1 - _phi(z / math.sqrt(x))) for x in (0.25, 0.5)] + [alpha] * 2
    assert OF_SPENDING.cumulative(t, alpha) == pytest.approx(of_expected, abs=1e-15)
    pocock_expected = [alpha * math.log(1 + (math.e - 1) * min(x, 1.0)) for x in t]
    assert POCOCK_SPENDING.cumulative(t, alpha) == pytest.approx(pocock_expected, abs=1e-15)
    hsd = SpendingFunction("hwang-shih-decani", -4.0).cumulative(t, alpha)
    hsd_expected = [alpha * (1 - math.exp(4 * min(x, 1.0))) / (1 - math.exp(4)) for x in t]
    assert hsd == pytest.approx(hsd_expected, abs=1e-15)
    linear = SpendingFunction("hwang-shih-decani", 0.0).cumulative(t, alpha)
    assert linear == pytest.approx(alpha * np.minimum(t, 1.0), abs=1e-15)
    kim_demets = SpendingFunction("kim-demets", 3.0).cumulative(t, alpha)
    assert kim_demets == pytest.approx(alpha * np.minimum(t, 1.0) ** 3, abs=1e-15)


def test_efficacy_rule_names_and_rpact_codes():
    assert efficacy_rule("asOF") == efficacy_rule("ld-obrien-fleming") == OF_SPENDING
    assert efficacy_rule("asP") == POCOCK_SPENDING
    assert efficacy_rule("asHSD", -4) == SpendingFunction("hwang-shih-decani", -4)
    assert efficacy_rule("OF") == WangTsiatis(0.0)
    assert efficacy_rule("pocock") == WangTsiatis(0.5)
    assert efficacy_rule("HP") == HaybittlePeto(3.0)
    assert efficacy_rule("haybittle-peto", 3.29) == HaybittlePeto(3.29)
    with pytest.raises(ValueError, match="unknown efficacy boundary"):
        efficacy_rule("triangular")
    with pytest.raises(ValueError, match="takes no parameter"):
        efficacy_rule("asOF", 1.0)
    with pytest.raises(ValueError, match="needs a parameter"):
        efficacy_rule("hwang-shih-decani")


@pytest.mark.parametrize(
    ("make", "needed"),
    [
        (lambda: SpendingFunction("hwang-shih-decani"), "gamma"),
        (lambda: SpendingFunction("kim-demets"), "rho"),
        (lambda: efficacy_rule("WT"), "delta"),
        (lambda: SpendingFunction("pocock", 1.0), None),
        (lambda: efficacy_rule("ld-pocock", 1.0), None),
    ],
)
def test_a_parameter_error_says_which_parameter_is_missing(make, needed):
    # The command line and the scenario name their own option or key from `needed`.
    with pytest.raises(RuleParameterError) as raised:
        make()
    assert raised.value.needed == needed


def test_bad_designs_are_refused():
    with pytest.raises(ValueError, match="increase"):
        group_sequential_boundaries([0.5, 0.4, 1.0])
    with pytest.raises(ValueError, match="positive"):
        group_sequential_boundaries([0.0, 1.0])
    with pytest.raises(ValueError, match="alpha"):
        group_sequential_boundaries([0.5, 1.0], alpha=0.7)
    with pytest.raises(ValueError, match="drift"):
        group_sequential_boundaries(
            [0.5], 0.025, OF_SPENDING, BetaSpendingFutility(OF_SPENDING), last_is_final=False
        )
    with pytest.raises(ValueError, match="last_is_final"):
        group_sequential_boundaries([0.5], 0.025, WangTsiatis(0.0), last_is_final=False)


def test_looks_close_in_information_are_integrated_on_a_finer_grid():
    """Between looks 0.0001 apart the kernel is far narrower than the r = 16 grid: the final bound
    came out 2.1245 (alpha still "spent" 0.025). The bounds now given have size alpha by mvtnorm
    1.1-3 (R 4.2.2); the old ones 0.0174:

    > t <- c(0.5, 0.5001, 1); S <- outer(t, t, function(a, b) sqrt(pmin(a, b) / pmax(a, b)))
    > b <- c(2.962588042727546, 2.9849560794126404, 1.96861803619911); set.seed(1)
    > for (k in 2:3) print(1 - pmvnorm(upper = b[1:k], corr = S[1:k, 1:k],
    +                                  algorithm = Miwa(steps = 4097))[1], digits = 10)
    [1] 0.001526966681
    [1] 0.02499941752
    > print(1 - pmvnorm(upper = c(2.962588042727546, 2.98783, 2.12447), corr = S,
    +                   algorithm = Miwa(steps = 4097))[1], digits = 10)
    [1] 0.01743888003
    """
    result = group_sequential_boundaries([0.5, 0.5001, 1.0], 0.025)
    assert result.efficacy_z == pytest.approx([2.962588, 2.984956, 1.968618], abs=1e-5)
    assert result.alpha_spent[1] == pytest.approx(0.001526966681, abs=1e-7)
    with pytest.raises(ValueError, match="too close to integrate accurately"):
        group_sequential_boundaries([0.5, 0.5 + 1e-9, 1.0], 0.025)


def test_haybittle_peto_feasibility_counts_the_looks_correlation():
    """Five looks with interim z 2.4: the Bonferroni sum of the interims, 4 x 0.0082 = 0.0328,
    exceeds alpha 0.025 and the design used to be refused; the looks are correlated and really
    spend 0.022676. rpact 3.3.4 in R 4.2.2:

    > d <- getDesignGroupSequential(kMax = 5, alpha = 0.025, sided = 1, typeOfDesign = "HP",
    +                               constantBoundsHP = 2.4)
    > print(d$criticalValues, digits = 10); print(d$alphaSpent, digits = 10)
    [1] 2.400000000 2.400000000 2.400000000 2.400000000 2.472171213
    [1] 0.008197535925 0.014251278779 0.018906126932 0.022675806602 0.024999990000

    Two interims at z 2.4 with information 223/632 and 331/632 (EMILIA's OS looks) spend
    0.013168 > 0.0125 (mvtnorm 1.1-3: 1 - pmvnorm(upper = c(2.4, 2.4), corr = S,
    algorithm = Miwa(steps = 4097)) with S the looks' sqrt(t_i / t_j) = 0.01316836348).
    """
    fractions = [0.2, 0.4, 0.6, 0.8, 1.0]
    result = group_sequential_boundaries(fractions, 0.025, HaybittlePeto(2.4))
    assert result.efficacy_z == pytest.approx([2.4, 2.4, 2.4, 2.4, 2.472171213], abs=1e-5)
    assert result.alpha_spent == pytest.approx(
        [0.008197535925, 0.014251278779, 0.018906126932, 0.022675806602, 0.025], abs=1e-6
    )
    with pytest.raises(ValueError, match=r"spends 0\.0132 >= alpha 0\.0125"):
        group_sequential_boundaries([223 / 632, 331 / 632, 1.0], 0.0125, HaybittlePeto(2.4))
