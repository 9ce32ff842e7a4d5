"""The cut, the looks and the stopping rules of a randomized trial, on hand-worked cohorts."""

import math

import numpy as np
import pytest

from sim import interim
from sim.records import RandomizedCohort
from sim.stats import group_sequential as gs
from sim.stats import logrank

INF = math.inf


def _cohort(registration, arm, pfs, os=None, dropout=None):
    count = len(registration)
    return RandomizedCohort(
        registration_day=np.array(registration, dtype=float),
        arm=np.array(arm),
        stratum=np.zeros(count, dtype=np.int64),
        pfs_event_time=np.array(pfs, dtype=float),
        os_event_time=np.array(os if os is not None else [INF] * count, dtype=float),
        dropout_time=np.array(dropout if dropout is not None else [INF] * count, dtype=float),
        switched=np.zeros(count, dtype=bool),
    )


def _design(planned_events=None, look_days=None, max_events=None, **keywords):
    keywords.setdefault("efficacy", gs.SpendingFunction("obrien-fleming"))
    return interim.EndpointDesign(
        name=keywords.pop("name", "pfs"),
        alpha=keywords.pop("alpha", 0.025),
        planned_events=planned_events,
        look_days=look_days,
        max_events=max_events or planned_events[-1],
        futility=keywords.pop("futility", None),
        binding=False,
        drift=keywords.pop("drift", None),
        **keywords,
    )


def test_cut_censors_at_the_last_scan_before_the_cut_or_dropout():
    # Scans every 42 days from randomization. Patient 1 (day 0): progression seen at 84, cut 100
    # -> event at 84. Patient 2 (day 10): no event, followed 90 days -> censored at the day-84
    # scan (time 84). Patient 3 (day 20): dropped out at 50 -> censored at the day-42 scan.
    # Patient 4 (day 70): followed 30 days, no scan yet -> censored at randomization (time 0).
    # Patient 5 (day 120): randomized after the cut, left out.
    cohort = _cohort([0, 10, 20, 70, 120], [0, 1, 0, 1, 0], [84, 200, INF, INF, 5],
                     dropout=[INF, INF, 50, INF, INF])
    time, event, arm, _ = interim.cut(cohort, "pfs", 100.0, 5, 42.0)
    assert time.tolist() == [84, 84, 42, 0]
    assert event.tolist() == [True, False, False, False]
    assert arm.tolist() == [0, 1, 0, 1]
    # Continuous assessment: censored at the cut or at dropout.
    time, event, _, _ = interim.cut(cohort, "pfs", 100.0, 5, None)
    assert time.tolist() == [84, 90, 50, 30]


def test_cut_reads_os_and_only_the_enrolled_patients():
    cohort = _cohort([0, 10, 20], [0, 1, 0], [30, 40, 50], os=[95, 300, 60],
                     dropout=[INF, 70, INF])
    time, event, _, _ = interim.cut(cohort, "os", 100.0, 2, 42.0)  # patient 3 not enrolled
    assert time.tolist() == [95, 70]  # OS is not censored at scans
    assert event.tolist() == [True, False]


def test_event_driven_looks_fall_on_the_day_of_the_planned_event():
    # Event days (registration + time): 5, 12, 23, 40, 61, 90.
    registration = [0, 2, 3, 10, 11, 30]
    cohort = _cohort(registration, [0, 1, 0, 1, 0, 1], [5, 10, 20, 30, 50, 60])
    design = _design(planned_events=(3, 6))
    result = interim.analyse(cohort, (design,), None, False, accrual_closed_day=30.0)
    (endpoint,) = result.endpoints
    assert [look.day for look in endpoint.looks] == [23, 90]
    assert [look.events for look in endpoint.looks] == [3, 6]
    assert [look.information_fraction for look in endpoint.looks] == [0.5, 1.0]
    # The z at each look is the log-rank of the cut, against the planned bounds.
    time, event, arm, _ = interim.cut(cohort, "pfs", 23.0, 6, None)
    expected = logrank.logrank_test(time, event, arm).z
    assert endpoint.looks[0].z == pytest.approx(expected, abs=1e-12)
    assert endpoint.looks[0].efficacy_z == pytest.approx(design.planned.efficacy_z[0])
    assert endpoint.looks[-1].decision == interim.NOT_REJECTED
    assert not result.stopped_early and result.n_enrolled == 6
    assert result.duration_days == 90


def _control_dies_first(count, registration_gap=1.0):
    """Control patients have events 1 day after randomization, experimental ones never: the
    log-rank z grows with every event."""
    registration = np.arange(count) * registration_gap
    arm = np.arange(count) % 2
    pfs = np.where(arm == 0, 1.0, INF)
    return _cohort(registration, arm, pfs)


def test_an_efficacy_stop_at_an_interim_closes_accrual_that_day():
    cohort = _control_dies_first(200)
    design = _design(planned_events=(20, 40, 60),
                     efficacy=gs.HaybittlePeto(3.0))
    result = interim.analyse(cohort, (design,), None, False, accrual_closed_day=199.0)
    (endpoint,) = result.endpoints
    first = endpoint.looks[0]
    # The 20th control event happens on day 38 + 1 = 39 (control patients on even days).
    assert first.day == 39.0 and first.events == 20
    assert first.z >= 3.0 and first.decision == interim.EFFICACY
    assert len(endpoint.looks) == 1 and endpoint.rejected
    assert result.stopped_early and result.accrual_closed_day == 39.0
    assert result.n_enrolled == 40  # randomized on days 0..39
    # Every event in the control arm: the Cox estimate is infinite (monotone likelihood).
    assert math.isnan(endpoint.hazard_ratio)


def test_a_futility_stop_ends_the_endpoint_and_closes_accrual():
    cohort = _control_dies_first(200)
    flipped = _cohort(cohort.registration_day, 1 - cohort.arm, cohort.pfs_event_time)
    design = _design(planned_events=(20, 40), futility=gs.FixedFutility(0.0))
    result = interim.analyse(flipped, (design,), None, False, accrual_closed_day=199.0)
    (endpoint,) = result.endpoints
    assert endpoint.looks[0].decision == interim.FUTILITY and not endpoint.rejected
    assert result.stopped_early and result.n_enrolled == 40


def test_looks_by_date_use_the_observed_information_fraction():
    # Events on days 5, 12, 23, 40, 61, 90; looks on days 30 and 100 with 8 planned events.
    cohort = _cohort([0, 2, 3, 10, 11, 30], [0, 1, 0, 1, 0, 1], [5, 10, 20, 30, 50, 60])
    design = _design(look_days=(30.0, 100.0), max_events=8)
    result = interim.analyse(cohort, (design,), None, False, accrual_closed_day=30.0)
    looks = result.endpoints[0].looks
    assert [look.information_fraction for look in looks] == [3 / 8, 6 / 8]
    # The final look spends all the alpha at the information it has (Lan and DeMets 1983).
    expected = gs.group_sequential_boundaries((3 / 8, 6 / 8), 0.025, design.efficacy)
    assert looks[0].efficacy_z == pytest.approx(expected.efficacy_z[0])
    assert looks[1].efficacy_z == pytest.approx(expected.efficacy_z[1])


def test_a_planned_count_never_reached_makes_the_last_event_the_final_look():
    cohort = _cohort([0, 2, 3, 10], [0, 1, 0, 1], [5, 10, INF, 30])  # 3 events ever
    design = _design(planned_events=(2, 5))
    looks = interim.analyse(cohort, (design,), None, False, 10.0).endpoints[0].looks
    assert [look.day for look in looks] == [12, 40]
    assert looks[-1].information_fraction == 3 / 5
    expected = gs.group_sequential_boundaries((2 / 5, 3 / 5), 0.025, design.efficacy)
    assert looks[-1].efficacy_z == pytest.approx(expected.efficacy_z[-1])


def test_the_other_endpoint_is_followed_after_an_early_stop():
    # PFS stops for efficacy at its interim (day 39); OS goes on with the 40 patients enrolled.
    count = 200
    cohort = _control_dies_first(count)
    os_times = np.full(count, 100.0)  # no difference in OS
    cohort = _cohort(cohort.registration_day, cohort.arm, cohort.pfs_event_time, os=os_times)
    pfs = _design(planned_events=(20, 60), efficacy=gs.HaybittlePeto(3.0))
    os = _design(planned_events=(30, 50), name="os", alpha=0.01)
    result = interim.analyse(cohort, (pfs, os), None, False, accrual_closed_day=199.0)
    assert result.n_enrolled == 40
    os_looks = result.endpoints[1].looks
    # 40 patients, each dying 100 days after randomization (days 0..39): the 30th death is on
    # day 129; 40 < 50 deaths will ever be seen, so the final look is at the last, day 139.
    assert [look.day for look in os_looks] == [129, 139]
    assert [look.decision for look in os_looks] == [interim.CONTINUE, interim.NOT_REJECTED]
    assert result.duration_days == 139


def test_a_look_without_events_is_skipped_and_a_final_without_new_events_retests():
    # Events on days 40, 45 and 50 only. Looks by date on days 30 (no event: skipped, nothing
    # spent), 60 (3 events) and 90 (still 3: the final tests look 2's z against the final bound
    # at look 2's information, spending what is left).
    cohort = _cohort([0, 5, 10, 15], [0, 1, 0, 1], [40, 40, 40, INF])
    design = _design(look_days=(30.0, 60.0, 90.0), max_events=6)
    (endpoint,) = interim.analyse(cohort, (design,), None, False, 15.0).endpoints
    assert [look.look for look in endpoint.looks] == [2, 3]
    interim_look, final_look = endpoint.looks
    assert interim_look.events == final_look.events == 3 and final_look.z == interim_look.z
    expected = gs.group_sequential_boundaries((0.5,), 0.025, design.efficacy)
    assert final_look.efficacy_z == pytest.approx(expected.efficacy_z[0])
    assert endpoint.last_day == 90.0


@pytest.mark.parametrize(
    "efficacy",
    [gs.SpendingFunction("obrien-fleming"), gs.WangTsiatis(0.0)],
    ids=["spending", "classical"],
)
def test_fixed_futility_bounds_follow_the_planned_look_when_one_was_skipped(efficacy):
    # Futility z 1.0 at planned look 1, -3.0 at look 2. Look 1 (day 30) has no event and is
    # skipped; look 2 (day 60, z = 0.67) is held to -3.0 and goes on. It was held to look 1's
    # 1.0 (the first bound of the looks analysed) and stopped for futility.
    cohort = _cohort([0, 5, 10, 15, 20, 25], [0, 1, 0, 1, 0, 1], [40, 41, 42, 43, INF, INF])
    design = _design(look_days=(30.0, 60.0, 90.0), max_events=8, efficacy=efficacy,
                     futility=gs.FixedFutility((1.0, -3.0)))
    (endpoint,) = interim.analyse(cohort, (design,), None, False, 25.0).endpoints
    second = endpoint.looks[0]
    assert second.look == 2 and second.futility_z == -3.0 and second.decision == interim.CONTINUE
    assert [look.look for look in endpoint.looks] == [2, 3]


def test_accrual_closes_at_the_final_analysis_if_that_comes_first():
    # 10 patients randomized on days 0..9 would take accrual to day 9; the final look (2 events)
    # is on day 3 (events on days 2 and 3): patients 5..10 are never randomized.
    cohort = _cohort(list(range(10)), [0, 1] * 5, [2, 2] + [INF] * 8)
    design = _design(planned_events=(2,))
    result = interim.analyse(cohort, (design,), None, False, accrual_closed_day=9.0)
    assert result.endpoints[0].last_day == 3.0
    assert result.accrual_closed_day == 3.0 and result.n_enrolled == 4
    assert not result.stopped_early and result.duration_days == 3.0


def test_duration_skips_an_endpoint_that_never_had_a_look():
    cohort = _cohort([0, 1, 2, 3], [0, 1, 0, 1], [INF] * 4, os=[10, 20, 30, 40])
    pfs, os = _design(planned_events=(2,)), _design(planned_events=(4,), name="os")
    result = interim.analyse(cohort, (pfs, os), None, False, 3.0)
    assert result.endpoints[0].looks == () and math.isnan(result.endpoints[0].last_day)
    assert result.duration_days == 43.0


@pytest.mark.parametrize("efficacy", [gs.WangTsiatis(0.0), gs.WangTsiatis(0.5),
                                      gs.HaybittlePeto(3.0)])
def test_classical_bounds_keep_their_constant_and_a_short_final_has_size_alpha(efficacy):
    """Interims at other than the planned information keep the planned constant
    (c t^(delta - 1/2); Haybittle-Peto's 3), and a final look short of the planned information
    is solved so the bounds applied have size alpha exactly (crossing_probabilities at drift 0).
    """
    design = _design(planned_events=(100, 200), efficacy=efficacy)
    interim_z, _ = design.bounds((0.55,), final=False)
    if isinstance(efficacy, gs.HaybittlePeto):
        assert interim_z == 3.0
    else:
        constant = design.planned.efficacy_z[-1]
        assert interim_z == pytest.approx(constant * 0.55 ** (efficacy.delta - 0.5))
    final_z, _ = design.bounds((0.55, 0.8), final=True)
    size = gs.crossing_probabilities((0.55, 0.8), (interim_z, final_z), None, 0.0).rejection
    assert size == pytest.approx(0.025, abs=1e-8)
    # At the planned information the planned bounds are used as they are.
    assert design.bounds((0.5, 1.0), final=True)[0] == design.planned.efficacy_z[1]
