"""Seed streams: one root SeedSequence per run, child i for replicate i, named substreams.

numpy's parallel-RNG guide: SeedSequence(seed, spawn_key=(i,)) is exactly the i-th child of
SeedSequence(seed).spawn(), so replicate i draws the same numbers whichever worker runs it.

Making a seeded generator costs numpy about 10 µs (a SeedSequence, then PCG64's seeding), as
much as a tenth of a small replicate. `StreamBlock` derives the same states for a block of
replicates at once (SeedSequence's hash, O'Neill 2015, on arrays of words) and loads them into
one generator per stream name, reused replicate after replicate: the numbers are the same as
`replicate_streams` gives, bit for bit (tests/test_rng.py).
"""

import numpy as np

from sim._course import pcg64_seed_stream

# Order matters: substream k of a replicate is the k-th child of that replicate's SeedSequence.
# Append new concerns at the end so existing streams (and results) do not move.
STREAM_NAMES = (
    "accrual",
    "patients",
    "toxicity",
    "assessment",
    "dosefinding",
    "allocation",
    "adverse_events",
)

_STREAM_INDEX = {name: index for index, name in enumerate(STREAM_NAMES)}


class ReplicateStreams:
    """The named generators of one replicate, each made on first use.

    Substream k is SeedSequence(seed, spawn_key=(replicate, k)): exactly the k-th child of the
    replicate's SeedSequence, made without spawning the streams a scenario never draws from.
    """

    __slots__ = ("seed", "replicate", "_block", *STREAM_NAMES)

    def __init__(self, seed: int, replicate: int, block: "StreamBlock | None" = None):
        self.seed = seed
        self.replicate = replicate
        self._block = block

    def __getattr__(self, name: str) -> np.random.Generator:
        index = _STREAM_INDEX.get(name)
        if index is None:
            raise AttributeError(name)
        if self._block is not None:
            generator = self._block.generator(self.replicate, index)
        else:
            sequence = np.random.SeedSequence(self.seed, spawn_key=(self.replicate, index))
            generator = np.random.Generator(np.random.PCG64(sequence))
        setattr(self, name, generator)
        return generator

    def uniform_stream(self, name: str) -> tuple[int, int, int, int]:
        """Stream `name` as sim._course.pcg64_fill reads it: its PCG64 state before the first
        draw (the 128-bit state and increment in 64-bit halves, high first), the state its
        generator starts from. For a stream drawn from only that way: no generator is made."""
        index = _STREAM_INDEX[name]
        if self._block is not None:
            return _uniform_stream(self._block.words(self.replicate, index))
        return spawned_uniform_stream(self.seed, (self.replicate, index))


def spawned_uniform_stream(seed: int, spawn_key: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The stream of SeedSequence(seed, spawn_key=spawn_key) as `ReplicateStreams.uniform_stream`
    gives a named one: what Generator(PCG64(that sequence)) draws, without making either
    (sim._course.pcg64_seed_stream; a spawn key of one or more entries below 2**32)."""
    if not spawn_key:
        raise ValueError("spawned_uniform_stream needs a spawn key")
    entropy = _words(seed)
    entropy += [0] * (_POOL_SIZE - len(entropy))  # padded when there is a spawn key
    return pcg64_seed_stream((*entropy, *spawn_key))


def _uniform_stream(words: list[int]) -> tuple[int, int, int, int]:
    state = pcg64_state(words)["state"]
    value, increment = state["state"], state["inc"]
    return (value >> 64, value & _MASK64, increment >> 64, increment & _MASK64)


def replicate_streams(seed: int, replicate: int) -> ReplicateStreams:
    """The generators of replicate `replicate` (0-based) of a run seeded with `seed`."""
    return ReplicateStreams(seed, replicate)


# SeedSequence's constants (numpy.random.SeedSequence; O'Neill 2015, "Developing a seed_seq
# alternative", pcg-random.org) and PCG64's multiplier (O'Neill 2014, PCG's 128-bit LCG).
_POOL_SIZE = 4
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_MULT_L, _MIX_MULT_R = 0xCA01F9DD, 0x4973F715
_MASK32 = 0xFFFFFFFF
_MASK64 = (1 << 64) - 1
_MASK128 = (1 << 128) - 1
_PCG_MULTIPLIER = 0x2360ED051FC65DA44385DF649FCCF645


def _words(value: int) -> list[int]:
    """An entropy integer as SeedSequence reads it: 32-bit words, least significant first."""
    if value < 0:
        raise ValueError(f"a seed must be a non-negative integer, got {value}")
    words = [value & _MASK32]
    value >>= 32
    while value:
        words.append(value & _MASK32)
        value >>= 32
    return words


def _hashmix(value: np.ndarray, hash_const: list[int]) -> np.ndarray:
    value = value ^ np.uint32(hash_const[0])
    hash_const[0] = (hash_const[0] * _MULT_A) & _MASK32
    value = value * np.uint32(hash_const[0])
    return value ^ (value >> np.uint32(16))


def _mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    result = np.uint32(_MIX_MULT_L) * x - np.uint32(_MIX_MULT_R) * y
    return result ^ (result >> np.uint32(16))


def seed_sequence_states(seed: int, spawn_keys: np.ndarray) -> np.ndarray:
    """SeedSequence(seed, spawn_key=key).generate_state(4, np.uint64) for each row of
    `spawn_keys` (non-negative integers below 2**32), computed for all rows at once."""
    run_words = _words(seed)
    run_words += [0] * (_POOL_SIZE - len(run_words))  # padded when there is a spawn key
    rows = spawn_keys.shape[0]
    entropy = [np.full(rows, word, dtype=np.uint32) for word in run_words]
    entropy += [column.astype(np.uint32) for column in spawn_keys.T]
    hash_const = [_INIT_A]
    pool = [_hashmix(entropy[i], hash_const) for i in range(_POOL_SIZE)]
    for source in range(_POOL_SIZE):
        for target in range(_POOL_SIZE):
            if source != target:
                pool[target] = _mix(pool[target], _hashmix(pool[source], hash_const))
    for source in range(_POOL_SIZE, len(entropy)):
        for target in range(_POOL_SIZE):
            pool[target] = _mix(pool[target], _hashmix(entropy[source], hash_const))
    hash_const_b = _INIT_B
    words = np.empty((rows, 8), dtype=np.uint32)
    for index in range(8):
        value = pool[index % _POOL_SIZE] ^ np.uint32(hash_const_b)
        hash_const_b = (hash_const_b * _MULT_B) & _MASK32
        value = value * np.uint32(hash_const_b)
        words[:, index] = value ^ (value >> np.uint32(16))
    return words.astype("<u4").view("<u8")  # pairs of words, little-endian, as numpy's view


def pcg64_state(words: tuple[int, int, int, int]) -> dict:
    """PCG64's state after seeding with these four 64-bit words (numpy's pcg64_set_seed: the
    first two the initial state, the last two the stream, PCG's srandom)."""
    initial = (words[0] << 64) | words[1]
    increment = ((((words[2] << 64) | words[3]) << 1) | 1) & _MASK128
    state = (increment + initial) & _MASK128  # one step from 0, then the initial state added
    state = (state * _PCG_MULTIPLIER + increment) & _MASK128
    return {
        "bit_generator": "PCG64",
        "state": {"state": state, "inc": increment},
        "has_uint32": 0,
        "uinteger": 0,
    }


class StreamBlock:
    """The streams of replicates `first` to `last` - 1 of a run, for replicates run one after
    another in this process: each stream name has one generator, reloaded for each replicate
    (a replicate must be finished before the next one draws)."""

    def __init__(self, seed: int, first: int, last: int):
        if not 0 <= first <= last <= 2**32:
            raise ValueError(f"replicates {first} to {last} are outside 0 to 2**32")
        self.seed = seed
        self.first = first
        replicates = np.repeat(np.arange(first, last), len(STREAM_NAMES))
        streams = np.tile(np.arange(len(STREAM_NAMES)), last - first)
        states = seed_sequence_states(seed, np.column_stack([replicates, streams]))
        self._words = states.reshape(last - first, len(STREAM_NAMES), 4).tolist()
        self._generators: list[np.random.Generator | None] = [None] * len(STREAM_NAMES)

    def streams(self, replicate: int) -> ReplicateStreams:
        return ReplicateStreams(self.seed, replicate, self)

    def words(self, replicate: int, index: int) -> list[int]:
        """The seed words of stream `index` of `replicate` (SeedSequence's generate_state)."""
        return self._words[replicate - self.first][index]

    def generator(self, replicate: int, index: int) -> np.random.Generator:
        generator = self._generators[index]
        if generator is None:  # any seed: the state is replaced below
            generator = self._generators[index] = np.random.Generator(np.random.PCG64(0))
        generator.bit_generator.state = pcg64_state(self.words(replicate, index))
        return generator
