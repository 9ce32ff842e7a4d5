"""Permuted-block randomization (sim.randomization) against its definition and its known properties.

Sources: Matts and Lachin, Control Clin Trials 1988;9:327-344 (a block of size b holds exactly
b w_k assignments to arm k; all orderings of a block equally likely; for 1:1 the imbalance never
exceeds b/2); Rosenberger and Lachin, Randomization in Clinical Trials, 2nd ed. 2016, ch. 3; the
general bound b_max w_k (1 - w_k) on |N_k - n w_k| is derived in the module docstring.

Monte Carlo checks use fixed seeds and a tolerance of 3 Monte Carlo standard errors.
"""

import dataclasses
import itertools
import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from sim.randomization import (
    Allocation,
    PermutedBlockAllocator,
    PermutedBlockDesign,
    StratificationFactor,
)

RECEPTOR = StratificationFactor("hormone receptor", ("positive", "negative"), (0.55, 0.45))
REGION = StratificationFactor("region", ("US", "Europe", "Asia"), (0.3, 0.5, 0.2))

DESIGNS = {
    "1:1, 2/4/6": PermutedBlockDesign(("control", "experimental"), (1, 1), (2, 4, 6)),
    "2:1, 3/6 weighted": PermutedBlockDesign(
        ("experimental", "control"), (2, 1), (3, 6), block_size_weights=(0.25, 0.75)
    ),
    "1:1:1, 3/6/9": PermutedBlockDesign(("A", "B", "C"), (1, 1, 1), (3, 6, 9)),
    "3:2, 10": PermutedBlockDesign(("A", "B"), (3, 2), 10),
}


def rng(seed):
    return np.random.default_rng(seed)


def arms_by_stratum(design, allocations):
    """Each stratum's arm sequence, in registration order."""
    sequences = {stratum: [] for stratum in range(design.n_strata)}
    for allocation in allocations:
        sequences[allocation.stratum].append(allocation.arm)
    return sequences


def largest_count_deviation(design, arms):
    """max over prefixes n and arms k of |N_k(n) - n w_k| for one block sequence."""
    one_hot = np.eye(len(design.arms))[np.asarray(arms, dtype=int)]
    counts = np.cumsum(one_hot, axis=0)
    n = np.arange(1, len(arms) + 1)[:, None]
    return np.abs(counts - n * np.asarray(design.shares)).max(axis=0)


def register_all(design, seed, uniforms):
    allocator = design.allocator(rng(seed))
    return [allocator.register(u) for u in uniforms]


# --- blocks --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DESIGNS)
def test_every_block_holds_exactly_its_share_of_each_arm(name):
    """Definition (Matts and Lachin 1988): a block of size b has exactly b r_k / sum(r) slots of
    arm k; its size is one of block_sizes."""
    design = DESIGNS[name]
    generator = rng(11)
    for _ in range(2000):
        block = design.draw_block(generator)
        assert len(block) in design.block_sizes
        expected = [len(block) * r // sum(design.ratio) for r in design.ratio]
        assert np.bincount(block, minlength=len(design.arms)).tolist() == expected


def test_every_ordering_of_a_1_to_1_block_of_4_is_equally_likely():
    """Matts and Lachin 1988: each of the C(4,2) = 6 orderings of a 1:1 block of 4 has
    probability 1/6. Pearson chi-square over 6,000 blocks (seed fixed), p > 0.001."""
    design = PermutedBlockDesign(("A", "B"), (1, 1), 4)
    generator = rng(2024)
    counts = Counter(tuple(design.draw_block(generator)) for _ in range(6000))
    orderings = set(itertools.permutations((0, 0, 1, 1)))
    assert set(counts) == orderings and len(orderings) == math.comb(4, 2)
    assert stats.chisquare([counts[o] for o in sorted(orderings)]).pvalue > 0.001


def test_every_ordering_of_a_2_to_1_block_of_6_is_equally_likely():
    """As above for 2:1: C(6,2) = 15 equally likely placements of the 2 control slots.
    Chi-square over 4,500 blocks (seed fixed), p > 0.001."""
    design = PermutedBlockDesign(("experimental", "control"), (2, 1), 6)
    generator = rng(7)
    counts = Counter(tuple(design.draw_block(generator)) for _ in range(4500))
    assert len(counts) == math.comb(6, 2)
    assert stats.chisquare(list(counts.values())).pvalue > 0.001


def test_block_sizes_are_drawn_with_their_weights():
    """Each block's size is drawn with probability block_size_weights; counts of 20,000 blocks
    within 3 binomial SE, sqrt(p (1 - p) / n)."""
    design = DESIGNS["2:1, 3/6 weighted"]
    generator = rng(5)
    n = 20_000
    sizes = Counter(len(design.draw_block(generator)) for _ in range(n))
    for size, weight in zip(design.block_sizes, design.block_size_weights, strict=True):
        assert abs(sizes[size] / n - weight) <= 3 * math.sqrt(weight * (1 - weight) / n)


# --- allocator -----------------------------------------------------------------------------------


def test_allocator_concatenates_blocks_per_stratum_in_the_order_they_are_opened():
    """Reference model: each stratum takes the next block from the one allocation stream when its
    open block is used up; nothing else draws from that stream (strata come from the uniforms)."""
    design = PermutedBlockDesign(("A", "B"), (1, 1), (2, 4, 6), factors=(RECEPTOR, REGION))
    uniforms = rng(1).random(3000)
    allocations = register_all(design, 99, uniforms)

    reference_stream = rng(99)
    open_blocks = {}
    for u, allocation in zip(uniforms, allocations, strict=True):
        stratum = design.stratum_of(u)
        if not open_blocks.get(stratum):
            open_blocks[stratum] = design.draw_block(reference_stream)
        assert allocation == Allocation(stratum, open_blocks[stratum].pop(0))


def test_unstratified_allocator_is_one_block_sequence_whatever_the_strata():
    """stratify=False: one block sequence for the trial; patients still get their strata."""
    design = PermutedBlockDesign(("A", "B"), (2, 1), 6, factors=(REGION,), stratify=False)
    uniforms = rng(3).random(600)
    allocations = register_all(design, 4, uniforms)
    reference_stream = rng(4)
    expected = [arm for _ in range(100) for arm in design.draw_block(reference_stream)]
    assert [a.arm for a in allocations] == expected
    assert [a.stratum for a in allocations] == [design.stratum_of(u) for u in uniforms]


@pytest.mark.parametrize("sizes", [4, (4, 8), (2, 4, 6)])
def test_1_to_1_imbalance_within_a_stratum_never_exceeds_half_the_largest_block(sizes):
    """Matts and Lachin 1988: with 1:1 blocks, |N_A - N_B| <= b/2 at every point of a stratum's
    sequence (b the largest block), and the bound is reached (AABB... opens some block)."""
    design = PermutedBlockDesign(("A", "B"), (1, 1), sizes, factors=(RECEPTOR, REGION))
    allocations = register_all(design, 8, rng(9).random(20_000))
    half_block = max(design.block_sizes) / 2
    reached = False
    for arms in arms_by_stratum(design, allocations).values():
        difference = np.cumsum(np.where(np.asarray(arms) == 0, 1, -1))
        assert np.abs(difference).max() <= half_block
        reached |= np.abs(difference).max() == half_block
    assert reached


@pytest.mark.parametrize("name", DESIGNS)
def test_count_deviation_within_a_stratum_never_exceeds_the_block_bound(name):
    """Module docstring: |N_k(n) - n w_k| <= b_max w_k (1 - w_k) in every stratum and at every n;
    the bound is reached when an open block puts all of arm k's slots first."""
    base = DESIGNS[name]
    design = dataclasses.replace(base, factors=(RECEPTOR,))
    allocations = register_all(design, 21, rng(22).random(30_000))
    largest = np.zeros(len(design.arms))
    for arms in arms_by_stratum(design, allocations).values():
        largest = np.maximum(largest, largest_count_deviation(design, arms))
    assert np.all(largest <= np.asarray(design.max_count_deviation) + 1e-9)
    if len(design.block_sizes) == 1 or design.block_size_weights[-1] > 0.2:
        # Largest blocks common enough that some opens with all of an arm's slots first.
        assert np.allclose(largest, design.max_count_deviation)


@pytest.mark.parametrize("name", DESIGNS)
def test_long_run_allocation_shares_match_the_ratio(name):
    """E[N_k(n)] = n w_k exactly at every n (each position of a uniformly permuted block is arm k
    with probability w_k), so the mean share over 2,000 replicates of 97 patients in 6 strata is
    within 3 Monte Carlo SE (sample SD / sqrt(replicates)) of r_k / sum(r)."""
    design = dataclasses.replace(DESIGNS[name], factors=(RECEPTOR, REGION))
    replicates, patients = 2000, 97
    uniforms = rng(31).random((replicates, patients))
    shares = np.empty((replicates, len(design.arms)))
    for i in range(replicates):
        allocator = design.allocator(rng([32, i]))
        arms = [allocator.register(u).arm for u in uniforms[i]]
        shares[i] = np.bincount(arms, minlength=len(design.arms)) / patients
    mc_se = shares.std(axis=0, ddof=1) / math.sqrt(replicates)
    assert np.all(np.abs(shares.mean(axis=0) - design.shares) <= 3 * mc_se)
    # Deterministic as well: at most one open block per stratum is unbalanced.
    bound = design.n_strata * np.asarray(design.max_count_deviation) / patients
    assert np.all(np.abs(shares - design.shares) <= bound + 1e-12)


# --- strata --------------------------------------------------------------------------------------


def test_strata_are_the_combinations_of_factor_levels_with_product_prevalences():
    """Factors independent: P(stratum) = product of its levels' prevalences; strata in
    lexicographic order, first factor slowest."""
    design = PermutedBlockDesign(("A", "B"), factors=(RECEPTOR, REGION))
    assert design.strata == (
        ("positive", "US"), ("positive", "Europe"), ("positive", "Asia"),
        ("negative", "US"), ("negative", "Europe"), ("negative", "Asia"),
    )
    assert design.stratum_prevalences == pytest.approx(
        [0.55 * 0.3, 0.55 * 0.5, 0.55 * 0.2, 0.45 * 0.3, 0.45 * 0.5, 0.45 * 0.2], abs=1e-15
    )
    unstratified = PermutedBlockDesign(("A", "B"))
    assert unstratified.strata == ((),) and unstratified.stratum_prevalences == (1.0,)
    assert unstratified.stratum_of(0.999) == 0


def test_stratum_frequencies_match_the_prevalences():
    """Strata of 40,000 patients (uniforms from a fixed seed) within 3 binomial SE,
    sqrt(p (1 - p) / n), of their prevalences, and each factor's levels of theirs."""
    design = PermutedBlockDesign(("A", "B"), factors=(RECEPTOR, REGION))
    n = 40_000
    strata = np.array([design.stratum_of(u) for u in rng(41).random(n)])
    frequencies = np.bincount(strata, minlength=design.n_strata) / n
    p = np.asarray(design.stratum_prevalences)
    assert np.all(np.abs(frequencies - p) <= 3 * np.sqrt(p * (1 - p) / n))
    for position, factor in enumerate(design.factors):
        for level, prevalence in zip(factor.levels, factor.prevalences, strict=True):
            observed = np.mean([design.strata[s][position] == level for s in strata])
            assert abs(observed - prevalence) <= 3 * math.sqrt(prevalence * (1 - prevalence) / n)


def test_a_patients_stratum_depends_on_their_uniform_only():
    """Common random numbers: the same uniforms give the same strata under designs that differ
    in ratio, block sizes, stratification and allocation seed; the first factor's level is
    monotone in the uniform (inverse CDF)."""
    uniforms = rng(51).random(500)
    designs = [
        PermutedBlockDesign(("A", "B"), (1, 1), 4, factors=(RECEPTOR, REGION)),
        PermutedBlockDesign(("A", "B"), (2, 1), (3, 6), factors=(RECEPTOR, REGION)),
        PermutedBlockDesign(("A", "B", "C"), None, 3, factors=(RECEPTOR, REGION), stratify=False),
    ]
    strata = [[a.stratum for a in register_all(d, seed, uniforms)]
              for d in designs for seed in (1, 2)]
    assert all(s == strata[0] for s in strata)
    receptor_negative = [designs[0].strata[s][0] == "negative" for s in strata[0]]
    assert receptor_negative == list(uniforms >= 0.55)


# --- reproducibility -----------------------------------------------------------------------------


def test_same_seed_same_allocations_and_different_seeds_differ():
    design = PermutedBlockDesign(("A", "B"), (2, 1), (3, 6), factors=(REGION,))
    uniforms = rng(61).random(300)
    first = register_all(design, 123, uniforms)
    assert register_all(design, 123, uniforms) == first
    assert register_all(design, 124, uniforms) != first


# --- bad parameters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"arms": ("A",)}, "arms"),
        ({"arms": ("A", "A")}, "arms"),
        ({"ratio": (1, 1, 1)}, "ratio"),
        ({"ratio": (2, 0)}, "ratio"),
        ({"ratio": (1.5, 1)}, "ratio"),
        ({"ratio": (True, 1)}, "ratio"),
        ({"block_sizes": 5}, "block_sizes"),
        ({"block_sizes": 0}, "block_sizes"),
        ({"block_sizes": ()}, "block_sizes"),
        ({"block_sizes": (4, 4)}, "block_sizes"),
        ({"block_sizes": (4.0,)}, "block_sizes"),
        ({"block_sizes": (2, 4), "block_size_weights": (0.5,)}, "block_size_weights"),
        ({"block_sizes": (2, 4), "block_size_weights": (0.5, 0.6)}, "block_size_weights"),
        ({"block_sizes": (2, 4), "block_size_weights": (1.5, -0.5)}, "block_size_weights"),
        ({"factors": (RECEPTOR, RECEPTOR)}, "factors"),
        ({"factors": ("region",)}, "factors"),
        ({"stratify": "yes"}, "stratify"),
    ],
)
def test_bad_design_parameters_raise_value_error_naming_the_parameter(kwargs, parameter):
    arguments = {"arms": ("A", "B")} | kwargs
    with pytest.raises(ValueError, match=parameter):
        PermutedBlockDesign(**arguments)


@pytest.mark.parametrize(
    ("levels", "prevalences", "parameter"),
    [
        ((), (), "levels"),
        (("a", "a"), (0.5, 0.5), "levels"),
        (("a", "b"), (1.0,), "prevalences"),
        (("a", "b"), (0.5, 0.6), "prevalences"),
        (("a", "b"), (1.2, -0.2), "prevalences"),
        (("a", "b"), (float("nan"), 0.5), "prevalences"),
    ],
)
def test_bad_factors_raise_value_error_naming_the_parameter(levels, prevalences, parameter):
    with pytest.raises(ValueError, match=parameter):
        StratificationFactor("region", levels, prevalences)
    with pytest.raises(ValueError, match="name"):
        StratificationFactor("", ("a",), (1.0,))


def test_bad_per_patient_arguments_raise_value_error_naming_the_parameter():
    design = PermutedBlockDesign(("A", "B"), factors=(RECEPTOR,))
    allocator = design.allocator(rng(1))
    for uniform in (-0.1, 1.0, float("nan")):
        with pytest.raises(ValueError, match="uniform"):
            allocator.register(uniform)
    for stratum in (-1, 2):
        with pytest.raises(ValueError, match="stratum"):
            allocator.assign(stratum)
    with pytest.raises(ValueError, match="rng"):
        PermutedBlockAllocator(design, 1)


def test_design_is_frozen_and_compares_by_value():
    design = PermutedBlockDesign(("A", "B"), [2, 1], [3, 6], factors=[REGION])
    assert design == PermutedBlockDesign(("A", "B"), (2, 1), (3, 6), factors=(REGION,))
    assert hash(design) == hash(PermutedBlockDesign(("A", "B"), (2, 1), (3, 6), factors=(REGION,)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        design.ratio = (1, 1)


# --- property ------------------------------------------------------------------------------------


# Any design: its ratio, block sizes (multiples of the ratio sum), strata and patients.
ANY_DESIGN = {
    "ratio": st.lists(st.integers(1, 3), min_size=2, max_size=4),
    "multiples": st.sets(st.integers(1, 4), min_size=1, max_size=3),
    "levels": st.integers(1, 3),
    "stratify": st.booleans(),
    "patients": st.integers(0, 300),
    "seed": st.integers(0, 2**32 - 1),
}


@settings(max_examples=150, deadline=None)
@given(**ANY_DESIGN)
def test_any_design_balances_blocks_and_bounds_deviation(
    ratio, multiples, levels, stratify, patients, seed
):
    """For any ratio, block sizes and strata: every block holds exactly its share of each arm,
    the allocator's sequences are those blocks in order, and |N_k - n w_k| <= b_max w_k (1 - w_k)
    within every block sequence at every n."""
    factor = StratificationFactor("f", tuple(map(str, range(levels))), (1 / levels,) * levels)
    design = PermutedBlockDesign(
        tuple(f"arm{k}" for k in range(len(ratio))), tuple(ratio),
        tuple(m * sum(ratio) for m in sorted(multiples)), factors=(factor,), stratify=stratify,
    )
    uniforms = rng([seed, 1]).random(patients)
    allocations = register_all(design, [seed, 2], uniforms)

    reference_stream = rng([seed, 2])
    open_blocks, sequences = {}, {}
    for u, allocation in zip(uniforms, allocations, strict=True):
        sequence = design.stratum_of(u) if stratify else 0
        if not open_blocks.get(sequence):
            block = design.draw_block(reference_stream)
            counts = np.bincount(block, minlength=len(ratio)).tolist()
            assert counts == [len(block) * r // sum(ratio) for r in ratio]
            open_blocks[sequence] = block
        assert allocation.arm == open_blocks[sequence].pop(0)
        sequences.setdefault(sequence, []).append(allocation.arm)
    for arms in sequences.values():
        deviation = largest_count_deviation(design, arms)
        assert np.all(deviation <= np.asarray(design.max_count_deviation) + 1e-9)


# --- vectorized assignment (PermutedBlockDesign.assign_all) --------------------------------------

SINGLE_SIZE_DESIGNS = {
    "1:1, 2": PermutedBlockDesign(("A", "B"), (1, 1), 2),
    "1:1, 4": PermutedBlockDesign(("A", "B"), (1, 1), 4),
    "1:1, 6": PermutedBlockDesign(("A", "B"), (1, 1), 6),
    "2:1, 3": PermutedBlockDesign(("A", "B"), (2, 1), 3),
    "2:1, 6": PermutedBlockDesign(("A", "B"), (2, 1), 6),
    "1:1:1, 3": PermutedBlockDesign(("A", "B", "C"), (1, 1, 1), 3),
    "3:2, 10": DESIGNS["3:2, 10"],
}


def strata_of(design, uniforms):
    return np.array([design.stratum_of(u) for u in uniforms], dtype=np.int64)


def assigned_sequences(design, strata, arms):
    """Each block sequence's arms in registration order: one per stratum when stratifying, else
    all patients (empty sequences left out)."""
    if not design.stratify:
        return [arms] if arms.size else []
    return [arms[strata == s] for s in range(design.n_strata) if np.any(strata == s)]


def first_arms_distribution(design, n):
    """Exact distribution of the first n arms of one block sequence under the sequential scheme,
    by enumeration: each block's size drawn by weight, then each distinct ordering of its
    contents equally likely (Matts and Lachin 1988)."""
    orderings = {}
    for size in design.block_sizes:
        per_unit = size // sum(design.ratio)
        contents = [k for k, r in enumerate(design.ratio) for _ in range(r * per_unit)]
        orderings[size] = sorted(set(itertools.permutations(contents)))
    distribution = Counter()

    def extend(prefix, probability):
        if len(prefix) >= n:
            distribution[prefix[:n]] += probability
            return
        for size, weight in zip(design.block_sizes, design.block_size_weights, strict=True):
            for ordering in orderings[size]:
                extend(prefix + ordering, probability * weight / len(orderings[size]))

    extend((), 1.0)
    return distribution


def many_strata_design(design, n_strata):
    """`design` with one factor of n_strata equally common levels: one assign_all call then
    yields n_strata independent block sequences."""
    levels = tuple(map(str, range(n_strata)))
    factor = StratificationFactor("site", levels, (1 / n_strata,) * n_strata)
    return dataclasses.replace(design, factors=(factor,), stratify=True)


@pytest.mark.parametrize("stratify", [True, False])
@pytest.mark.parametrize("name", SINGLE_SIZE_DESIGNS)
def test_assign_all_fills_every_complete_block_with_exactly_its_share_of_each_arm(name, stratify):
    """One block size b: a sequence's blocks are its consecutive chunks of b patients, and each
    complete one holds exactly b r_k / sum(r) of arm k (the open last block at most that)."""
    design = dataclasses.replace(
        SINGLE_SIZE_DESIGNS[name], factors=(RECEPTOR, REGION), stratify=stratify
    )
    strata = strata_of(design, rng(71).random(3001))
    arms = design.assign_all(strata, rng(72))
    assert arms.dtype == np.int64 and arms.shape == strata.shape
    (size,) = design.block_sizes
    expected = [size * r // sum(design.ratio) for r in design.ratio]
    for sequence in assigned_sequences(design, strata, arms):
        complete = len(sequence) // size * size
        blocks = sequence[:complete].reshape(-1, size)
        counts = np.stack([np.bincount(b, minlength=len(design.arms)) for b in blocks])
        assert np.all(counts == expected)
        assert np.all(np.bincount(sequence[complete:], minlength=len(design.arms)) <= expected)


@pytest.mark.parametrize("stratify", [True, False])
@pytest.mark.parametrize("name", [*DESIGNS, *SINGLE_SIZE_DESIGNS])
def test_assign_all_count_deviation_never_exceeds_the_block_bound(name, stratify):
    """|N_k(n) - n w_k| <= b_max w_k (1 - w_k) at every prefix n of every block sequence (module
    docstring), and the bound is reached (some block opens with all of an arm's slots)."""
    design = dataclasses.replace(
        {**DESIGNS, **SINGLE_SIZE_DESIGNS}[name], factors=(RECEPTOR,), stratify=stratify
    )
    strata = strata_of(design, rng(73).random(30_000))
    arms = design.assign_all(strata, rng(74))
    largest = np.zeros(len(design.arms))
    for sequence in assigned_sequences(design, strata, arms):
        largest = np.maximum(largest, largest_count_deviation(design, sequence))
    assert np.all(largest <= np.asarray(design.max_count_deviation) + 1e-9)
    if len(design.block_sizes) == 1 or design.block_size_weights[-1] > 0.2:
        assert np.allclose(largest, design.max_count_deviation)


def test_assign_all_orders_a_1_to_1_block_of_4_uniformly():
    """Each of the C(4,2) = 6 orderings of a 1:1 block of 4 has probability 1/6: Pearson
    chi-square over the 6,000 blocks of one 24,000-patient sequence (seed fixed), p > 0.001,
    and each frequency within 3 binomial SE, sqrt(p (1 - p) / n), of 1/6."""
    design = PermutedBlockDesign(("A", "B"), (1, 1), 4)
    n_blocks = 6000
    arms = design.assign_all(np.zeros(4 * n_blocks, dtype=np.int64), rng(75))
    counts = Counter(map(tuple, arms.reshape(n_blocks, 4).tolist()))
    orderings = sorted(set(itertools.permutations((0, 0, 1, 1))))
    assert set(counts) == set(orderings)
    observed = np.array([counts[o] for o in orderings])
    assert stats.chisquare(observed).pvalue > 0.001
    p = 1 / 6
    assert np.all(np.abs(observed / n_blocks - p) <= 3 * math.sqrt(p * (1 - p) / n_blocks))


def test_assign_all_orders_2_to_1_blocks_of_6_uniformly_within_each_stratum():
    """As above for 2:1 blocks of 6 (C(6,2) = 15 orderings) in six interleaved strata: the
    complete blocks of every stratum pooled, chi-square p > 0.001 (seed fixed)."""
    design = PermutedBlockDesign(("E", "C"), (2, 1), 6, factors=(RECEPTOR, REGION))
    strata = strata_of(design, rng(76).random(30_000))
    arms = design.assign_all(strata, rng(77))
    counts = Counter()
    for sequence in assigned_sequences(design, strata, arms):
        complete = len(sequence) // 6 * 6
        counts.update(map(tuple, sequence[:complete].reshape(-1, 6).tolist()))
    assert len(counts) == math.comb(6, 2)
    assert stats.chisquare(list(counts.values())).pvalue > 0.001


def test_assign_all_draws_block_sizes_with_their_weights():
    """Sizes (2, 4) with weights (0.25, 0.75), 1:1. Block boundaries are not observable, so:
    (a) the first 6 arms of a sequence follow the sequential scheme's exact distribution
    (enumerated), chi-square p > 0.001 over 20,000 sequences; (b) the first two patients share
    an arm only if the first block has size 4 and opens AABB or BBAA, so P = w_4 / 3 and
    3 x (their frequency) estimates w_4 within 3 binomial SE."""
    base = PermutedBlockDesign(("A", "B"), (1, 1), (2, 4), block_size_weights=(0.25, 0.75))
    design = many_strata_design(base, 1000)
    generator = rng(78)
    prefixes = []
    for _ in range(20):
        strata = generator.permutation(np.repeat(np.arange(design.n_strata), 6))
        arms = design.assign_all(strata, generator)
        prefixes.extend(map(tuple, np.stack(assigned_sequences(design, strata, arms)).tolist()))
    n = len(prefixes)
    expected = first_arms_distribution(base, 6)
    assert math.fsum(expected.values()) == pytest.approx(1.0, abs=1e-12)
    observed = Counter(prefixes)
    assert set(observed) <= set(expected)
    patterns = sorted(expected)
    assert min(expected.values()) * n >= 5
    result = stats.chisquare([observed[p] for p in patterns], [expected[p] * n for p in patterns])
    assert result.pvalue > 0.001

    w4 = base.block_size_weights[1]
    same = np.mean([p[0] == p[1] for p in prefixes])
    assert abs(3 * same - w4) <= 3 * 3 * math.sqrt(w4 / 3 * (1 - w4 / 3) / n)


@pytest.mark.parametrize(
    "base",
    [DESIGNS["2:1, 3/6 weighted"], DESIGNS["1:1, 2/4/6"]],
    ids=["2:1, 3/6 weighted", "1:1, 2/4/6"],
)
def test_assign_all_has_the_sequential_allocators_distribution(base):
    """Two strata, 12 patients each, randomly interleaved. For each stratum and j = 1..12,
    P(patient j gets arm 1) and P(patient j gets the same arm as patient j - 1) (which depends
    on where blocks end) from 6,000 replicates of each method agree within 3 SE of the
    difference, sqrt(p1 (1 - p1) / n + p2 (1 - p2) / n)."""
    design = dataclasses.replace(base, factors=(RECEPTOR,))
    replicates, per_stratum = 6000, 12
    layout = rng(79)
    sequential = np.empty((replicates, 2, per_stratum), dtype=np.int64)
    vectorized = np.empty_like(sequential)
    for i in range(replicates):
        strata = layout.permutation(np.repeat([0, 1], per_stratum))
        allocator = design.allocator(rng([80, i]))
        arms = np.array([allocator.assign(int(s)) for s in strata])
        sequential[i] = [arms[strata == s] for s in (0, 1)]
        arms = design.assign_all(strata, rng([81, i]))
        vectorized[i] = [arms[strata == s] for s in (0, 1)]

    def statistics(arms):
        gets_arm_1 = (arms == 1).mean(axis=0)
        repeats = (arms[:, :, 1:] == arms[:, :, :-1]).mean(axis=0)
        return np.concatenate([gets_arm_1, repeats], axis=1)

    p1, p2 = statistics(sequential), statistics(vectorized)
    se = np.sqrt(p1 * (1 - p1) / replicates + p2 * (1 - p2) / replicates)
    assert np.all(np.abs(p1 - p2) <= 3 * se)


def test_assign_all_ignores_strata_without_stratification_and_is_reproducible():
    """stratify=False: one block sequence, so the arms do not depend on the strata; the same
    seed gives the same arms, another seed others; no patients, no arms."""
    design = PermutedBlockDesign(("A", "B"), (2, 1), (3, 6), factors=(REGION,), stratify=False)
    strata = strata_of(design, rng(82).random(500))
    arms = design.assign_all(strata, rng(83))
    assert np.array_equal(design.assign_all(np.zeros(500, dtype=np.int64), rng(83)), arms)
    stratified = dataclasses.replace(design, stratify=True)
    first = stratified.assign_all(strata, rng(84))
    assert np.array_equal(stratified.assign_all(strata.tolist(), rng(84)), first)
    assert not np.array_equal(stratified.assign_all(strata, rng(85)), first)
    empty = stratified.assign_all(np.array([], dtype=np.int64), rng(86))
    assert empty.dtype == np.int64 and empty.shape == (0,)


@pytest.mark.parametrize(
    "strata",
    [[0, 2], [-1, 0], [0.0, 1.0], [True, False], [[0, 1], [1, 0]], ["0", "1"]],
    ids=["too large", "negative", "float", "bool", "2-D", "str"],
)
def test_assign_all_rejects_bad_strata(strata):
    design = PermutedBlockDesign(("A", "B"), factors=(RECEPTOR,))
    with pytest.raises(ValueError, match="strata"):
        design.assign_all(strata, rng(1))
    with pytest.raises(ValueError, match="rng"):
        design.assign_all([0, 1], 1)


@settings(max_examples=150, deadline=None)
@given(**ANY_DESIGN)
def test_assign_all_balances_any_design(ratio, multiples, levels, stratify, patients, seed):
    """For any ratio, block sizes and strata: |N_k - n w_k| <= b_max w_k (1 - w_k) within every
    block sequence at every n, and with one block size each complete block is balanced."""
    factor = StratificationFactor("f", tuple(map(str, range(levels))), (1 / levels,) * levels)
    design = PermutedBlockDesign(
        tuple(f"arm{k}" for k in range(len(ratio))),
        tuple(ratio),
        tuple(m * sum(ratio) for m in sorted(multiples)),
        factors=(factor,),
        stratify=stratify,
    )
    strata = strata_of(design, rng([seed, 1]).random(patients))
    arms = design.assign_all(strata, rng([seed, 2]))
    assert arms.shape == (patients,) and np.all((arms >= 0) & (arms < len(ratio)))
    for sequence in assigned_sequences(design, strata, arms):
        deviation = largest_count_deviation(design, sequence)
        assert np.all(deviation <= np.asarray(design.max_count_deviation) + 1e-9)
        if len(design.block_sizes) == 1:
            (size,) = design.block_sizes
            blocks = sequence[: len(sequence) // size * size].reshape(-1, size)
            for block in blocks:
                counts = np.bincount(block, minlength=len(ratio)).tolist()
                assert counts == [size * r // sum(ratio) for r in ratio]
