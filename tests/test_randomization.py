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


@settings(max_examples=150, deadline=None)
@given(
    ratio=st.lists(st.integers(1, 3), min_size=2, max_size=4),
    multiples=st.sets(st.integers(1, 4), min_size=1, max_size=3),
    levels=st.integers(1, 3),
    stratify=st.booleans(),
    patients=st.integers(0, 300),
    seed=st.integers(0, 2**32 - 1),
)
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
