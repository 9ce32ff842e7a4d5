"""Permuted-block randomization, optionally stratified, for patients registered one at a time.

The scheme (Matts and Lachin, Control Clin Trials 1988;9:327-344; Rosenberger and Lachin,
Randomization in Clinical Trials, 2nd ed., Wiley 2016, ch. 3; stratified blocks: Zelen,
J Chronic Dis 1974;27:365-375):

- Arms have an integer allocation ratio r_1:...:r_K (1:1, 2:1, 1:1:1), ratio sum R.
- A block of size b (a multiple of R) holds exactly b r_k / R assignments to arm k, in an order
  drawn uniformly from all distinct orderings (one random permutation of the block's contents).
- With several block sizes, each new block's size is drawn at random (equal weights unless given),
  so the end of a block cannot be predicted from the sizes alone.
- Stratification: the strata are the combinations of the factors' levels; each stratum has its
  own block sequence. A patient's stratum is drawn from the factors' prevalences (factors
  independent, so a stratum's prevalence is the product of its levels' prevalences).

Balance: within a block sequence, after n patients, |N_k - n r_k / R| <= b_max w_k (1 - w_k) with
w_k = r_k / R and b_max the largest block size, because complete blocks are exactly balanced and
the open block deviates most when arm k's b w_k slots come all first (or all last). For 1:1 this
is |N_A - N_B| <= b_max / 2 (Matts and Lachin 1988, section 2).

Use in the engine: `PermutedBlockDesign` is built once per scenario (it validates its parameters
and precomputes block contents and cumulative prevalences); `design.allocator(rng)` gives one
replicate's `PermutedBlockAllocator`, whose state is the open block and position of each stratum.
Common random numbers: `register(u)` takes the patient's stratum uniform u (drawn by the caller,
one per registered patient in registration order), so the same patients fall in the same strata
under every design; only treatment assignment draws from the allocator's generator (the
replicate's "allocation" stream, sim.rng). Blocks are drawn whole (one permutation per block), when
a stratum's first patient or the first patient after a completed block arrives.
The engine's randomized trials use `design.assign_all(strata, rng)` instead: one call per
replicate, with every patient's stratum index (`stratum_of` of their uniform, so the strata are
still common random numbers) in registration order, and the allocation stream as `rng`. It is the
same scheme (the arm sequences have the same distribution) made with a handful of numpy calls, but
it draws the block sizes and orderings in another order, so its arms are not those of
`PermutedBlockAllocator` on the same stream number for number.

Pure and simpy-free.
"""

from __future__ import annotations

import itertools
import math
import numbers
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

_PROBABILITY_SUM_TOLERANCE = 1e-9


def _cumulative(probabilities: Sequence[float]) -> tuple[float, ...]:
    """Cumulative sums for inverse-CDF lookup with bisect_right; the last is exactly 1 so that
    every u in [0, 1) maps to an index."""
    total = list(itertools.accumulate(probabilities))
    total[-1] = 1.0
    return tuple(total)


def _check_probabilities(name: str, values: Sequence[float], expected_length: int) -> None:
    if len(values) != expected_length:
        raise ValueError(f"{name}: expected {expected_length} values, got {len(values)}")
    if any(not (isinstance(v, numbers.Real) and math.isfinite(v) and v >= 0) for v in values):
        raise ValueError(f"{name}: every value must be a finite number >= 0, got {tuple(values)}")
    if abs(math.fsum(values) - 1.0) > _PROBABILITY_SUM_TOLERANCE:
        raise ValueError(f"{name}: must sum to 1, got {tuple(values)} (sum {math.fsum(values)})")


def _is_integer(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class StratificationFactor:
    """One stratification factor: its levels and their prevalences in the accrued population
    (e.g. hormone-receptor status, ("positive", "negative"), (0.55, 0.45))."""

    name: str
    levels: tuple[str, ...]
    prevalences: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", tuple(self.levels))
        object.__setattr__(self, "prevalences", tuple(float(p) for p in self.prevalences))
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name: a factor needs a non-empty name, got {self.name!r}")
        if not self.levels or len(set(self.levels)) != len(self.levels):
            raise ValueError(
                f"factor {self.name!r}: levels must be non-empty and distinct, got {self.levels}"
            )
        _check_probabilities(
            f"factor {self.name!r}: prevalences", self.prevalences, len(self.levels)
        )


class Allocation(NamedTuple):
    """One registered patient's stratum (index into `PermutedBlockDesign.strata`) and arm (index
    into `PermutedBlockDesign.arms`)."""

    stratum: int
    arm: int


@dataclass(frozen=True)
class PermutedBlockDesign:
    """A permuted-block randomization scheme, built once per scenario.

    `arms`: arm names. `ratio`: integer allocation ratio, one per arm (default 1 each).
    `block_sizes`: one size or several, each a multiple of sum(ratio). `block_size_weights`:
    probabilities of the sizes for each new block (default equal). `factors`: stratification
    factors (none: a single stratum). `stratify`: one block sequence per stratum (True) or one
    for the whole trial (False; patients still get a stratum, e.g. for prognostic effects, so the
    two schemes can be compared on the same patients).
    """

    arms: tuple[str, ...]
    ratio: tuple[int, ...] | None = None
    block_sizes: int | tuple[int, ...] = 4
    block_size_weights: tuple[float, ...] | None = None
    factors: tuple[StratificationFactor, ...] = ()
    stratify: bool = True

    # Derived in __post_init__.
    shares: tuple[float, ...] = field(init=False)
    strata: tuple[tuple[str, ...], ...] = field(init=False)
    stratum_prevalences: tuple[float, ...] = field(init=False)
    max_count_deviation: tuple[float, ...] = field(init=False)
    _stratum_cdf: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _block_size_cdf: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _block_contents: tuple[np.ndarray, ...] = field(init=False, repr=False, compare=False)
    _padded_contents: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        arms = tuple(self.arms)
        if len(arms) < 2 or len(set(arms)) != len(arms):
            raise ValueError(f"arms: need at least two distinct arm names, got {arms}")
        ratio = (1,) * len(arms) if self.ratio is None else tuple(self.ratio)
        if len(ratio) != len(arms):
            raise ValueError(f"ratio: expected one integer per arm ({len(arms)}), got {ratio}")
        if any(not _is_integer(r) or r < 1 for r in ratio):
            raise ValueError(f"ratio: every entry must be an integer >= 1, got {ratio}")
        ratio = tuple(int(r) for r in ratio)
        ratio_sum = sum(ratio)

        sizes = (self.block_sizes,) if _is_integer(self.block_sizes) else tuple(self.block_sizes)
        if not sizes or len(set(sizes)) != len(sizes):
            raise ValueError(f"block_sizes: need one or more distinct sizes, got {sizes}")
        for size in sizes:
            if not _is_integer(size) or size < ratio_sum or size % ratio_sum:
                raise ValueError(
                    f"block_sizes: {size!r} is not a positive multiple of the ratio sum "
                    f"{ratio_sum} (ratio {':'.join(map(str, ratio))})"
                )
        sizes = tuple(int(s) for s in sizes)
        if self.block_size_weights is None:
            weights = (1.0 / len(sizes),) * len(sizes)
        else:
            weights = tuple(self.block_size_weights)
            _check_probabilities("block_size_weights", weights, len(sizes))
            weights = tuple(float(w) for w in weights)

        factors = tuple(self.factors)
        if any(not isinstance(f, StratificationFactor) for f in factors):
            raise ValueError("factors: every factor must be a StratificationFactor")
        names = [f.name for f in factors]
        if len(set(names)) != len(names):
            raise ValueError(f"factors: factor names must be distinct, got {names}")
        if not isinstance(self.stratify, bool):
            raise ValueError(f"stratify: must be True or False, got {self.stratify!r}")

        # Strata in lexicographic order of the factors' levels, first factor slowest; so the
        # first factor's level is monotone in the stratum uniform.
        strata = tuple(itertools.product(*(f.levels for f in factors)))
        prevalences = tuple(
            math.prod(p) for p in itertools.product(*(f.prevalences for f in factors))
        )
        shares = tuple(r / ratio_sum for r in ratio)
        largest = max(sizes)
        contents = tuple(
            np.repeat(np.arange(len(arms)), [r * (size // ratio_sum) for r in ratio])
            for size in sizes
        )

        set_ = object.__setattr__
        set_(self, "arms", arms)
        set_(self, "ratio", ratio)
        set_(self, "block_sizes", sizes)
        set_(self, "block_size_weights", weights)
        set_(self, "factors", factors)
        set_(self, "shares", shares)
        set_(self, "strata", strata)
        set_(self, "stratum_prevalences", prevalences)
        set_(self, "max_count_deviation", tuple(largest * w * (1 - w) for w in shares))
        set_(self, "_stratum_cdf", _cumulative(prevalences))
        set_(self, "_block_size_cdf", _cumulative(weights))
        set_(self, "_block_contents", contents)
        # Row i: the contents of a block of size block_sizes[i], padded with -1 to the largest.
        padded = np.full((len(sizes), largest), -1, dtype=np.int64)
        for row, block in zip(padded, contents, strict=True):
            row[: block.size] = block
        set_(self, "_padded_contents", padded)

    @property
    def n_strata(self) -> int:
        """Number of strata (combinations of factor levels; 1 without factors)."""
        return len(self.strata)

    @property
    def n_block_sequences(self) -> int:
        """Independent block sequences: one per stratum when stratifying, else one."""
        return self.n_strata if self.stratify else 1

    def stratum_of(self, uniform: float) -> int:
        """The stratum of a patient whose stratum uniform is `uniform` in [0, 1): inverse CDF of
        the stratum prevalences in the order of `strata`."""
        if not 0.0 <= uniform < 1.0:
            raise ValueError(f"uniform: must be in [0, 1), got {uniform!r}")
        return bisect_right(self._stratum_cdf, uniform)

    def draw_block(self, rng: np.random.Generator) -> list[int]:
        """One block of arm indices: its size drawn by weight (no draw when there is one size),
        then its contents in a uniformly random order (one permutation)."""
        contents = self._block_contents
        if len(contents) > 1:
            contents = contents[bisect_right(self._block_size_cdf, rng.random())]
        else:
            contents = contents[0]
        return rng.permutation(contents).tolist()

    def assign_all(self, strata: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Arms (int64 indices into self.arms) of patients registered in order, given each one's
        stratum index (int array, values in 0..n_strata-1): the same scheme as
        PermutedBlockAllocator (each block sequence, one per stratum when self.stratify, else
        one, is a run of blocks whose sizes are drawn by weight and whose contents are in
        uniformly random order), made with a handful of numpy calls instead of a Python loop per
        patient.

        The arm sequences have the allocator's distribution, but the draws are made in another
        order (all block sizes first, then a row of uniform sort keys per block, block size by
        block size), so the result does not reproduce `PermutedBlockAllocator` on the same
        generator number for number. Each block sequence gets the run of blocks that covers its
        patients, the last block possibly only in part (as the allocator leaves an open block);
        with several block sizes, ceil(patients / smallest size) sizes are drawn per sequence and
        those of blocks starting after its last patient are discarded.
        """
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng: must be a numpy Generator, got {type(rng).__name__}")
        strata = np.asarray(strata)
        if strata.ndim != 1:
            raise ValueError(f"strata: must be a one-dimensional array, got shape {strata.shape}")
        if strata.size == 0:
            return np.empty(0, dtype=np.int64)
        if strata.dtype.kind not in "iu":
            raise ValueError(f"strata: must be integer stratum indices, got dtype {strata.dtype}")
        if strata.min() < 0 or strata.max() >= self.n_strata:
            raise ValueError(
                f"strata: every stratum must be in 0..{self.n_strata - 1}, got values from "
                f"{strata.min()} to {strata.max()}"
            )
        if self.n_block_sequences == 1:
            return self._block_sequence_slots(np.array([strata.size]), rng)
        # Patients of each stratum in registration order, stratum after stratum (a stable sort;
        # numpy radix-sorts 8- and 16-bit integers).
        strata = strata.astype(np.min_scalar_type(self.n_strata - 1), copy=False)
        order = np.argsort(strata, kind="stable")
        arms = np.empty(strata.size, dtype=np.int64)
        arms[order] = self._block_sequence_slots(np.bincount(strata, minlength=self.n_strata), rng)
        return arms

    def _block_sequence_slots(self, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The first counts[s] arms of block sequence s, for each s, concatenated in order of s."""
        if len(self.block_sizes) == 1:
            size = self.block_sizes[0]
            n_blocks = -(-counts // size)
            # Row-wise argsort of uniform keys: one uniformly random permutation per block.
            keys = rng.random((int(n_blocks.sum()), size))
            slots = self._padded_contents[0][np.argsort(keys, axis=1)].ravel()
            lengths = n_blocks * size
        else:
            # Enough sizes for each sequence (ceil(count / smallest size)), then keep the blocks
            # that start before the sequence's count: the first ones covering its patients.
            n_draws = -(-counts // min(self.block_sizes))
            size_index = np.searchsorted(
                self._block_size_cdf, rng.random(int(n_draws.sum())), side="right"
            )
            drawn = np.asarray(self.block_sizes)[size_index]
            starts = np.cumsum(drawn) - drawn
            first_draw = np.repeat(np.cumsum(n_draws) - n_draws, n_draws)
            keep = starts - starts[first_draw] < np.repeat(counts, n_draws)
            sizes = drawn[keep]
            sequence = np.repeat(np.arange(len(counts)), n_draws)[keep]
            lengths = np.bincount(sequence, weights=sizes, minlength=len(counts)).astype(np.int64)
            # One row of uniform keys per block, padded to the largest size with keys that sort
            # last; the row's argsort is a uniformly random ordering of the block's slots.
            size_index = size_index[keep]
            in_block = np.arange(max(self.block_sizes)) < sizes[:, None]
            keys = rng.random(in_block.shape)
            keys[~in_block] = 2.0
            orderings = np.argsort(keys, axis=1)
            slots = self._padded_contents[size_index[:, None], orderings][in_block]
        if len(counts) == 1:
            return slots[: counts[0]]
        position = np.arange(slots.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return slots[position < np.repeat(counts, lengths)]

    def allocator(self, rng: np.random.Generator) -> PermutedBlockAllocator:
        """A fresh allocator for one replicate, drawing blocks from `rng` (the replicate's
        allocation stream)."""
        return PermutedBlockAllocator(self, rng)


class PermutedBlockAllocator:
    """One replicate's randomization state: the open block and position of each block sequence.

    Blocks are drawn from the generator when needed, so the draws follow the order in which
    blocks are opened, and a stratum that never gets a patient draws nothing.
    """

    __slots__ = ("design", "_rng", "_blocks", "_positions", "_n_strata", "_stratify")

    def __init__(self, design: PermutedBlockDesign, rng: np.random.Generator):
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"rng: must be a numpy Generator, got {type(rng).__name__}")
        self.design = design
        self._rng = rng
        self._blocks: list[list[int]] = [[] for _ in range(design.n_block_sequences)]
        self._positions = [0] * design.n_block_sequences
        self._n_strata = design.n_strata
        self._stratify = design.stratify

    def assign(self, stratum: int = 0) -> int:
        """The arm (index into design.arms) of the next patient in `stratum`."""
        if not 0 <= stratum < self._n_strata:
            raise ValueError(f"stratum: must be in 0..{self._n_strata - 1}, got {stratum!r}")
        sequence = stratum if self._stratify else 0
        position = self._positions[sequence]
        block = self._blocks[sequence]
        if position == len(block):
            block = self._blocks[sequence] = self.design.draw_block(self._rng)
            position = 0
        self._positions[sequence] = position + 1
        return block[position]

    def register(self, stratum_uniform: float) -> Allocation:
        """Register the next patient: stratum from `stratum_uniform` (the patient's own uniform
        in [0, 1)), then the arm from that stratum's block sequence."""
        stratum = self.design.stratum_of(stratum_uniform)
        return Allocation(stratum, self.assign(stratum))
