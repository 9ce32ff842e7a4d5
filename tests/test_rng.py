"""Seed streams: the block-seeded generators against numpy's own SeedSequence and PCG64."""

import numpy as np
import pytest

from sim import _course
from sim.rng import (
    STREAM_NAMES,
    StreamBlock,
    replicate_streams,
    seed_sequence_states,
    spawned_uniform_stream,
)


@pytest.mark.parametrize("seed", [0, 1, 2**32 - 1, 2**32, 12345678901234567890, 10**40])
def test_block_streams_draw_what_numpy_seeding_draws(seed):
    """Source: numpy itself, a second implementation: Generator(PCG64(SeedSequence(seed,
    spawn_key=(replicate, k)))). Seeds of one to five 32-bit words."""
    block = StreamBlock(seed, 300, 400)
    for replicate in (300, 301, 357, 399):
        ours, numpy_made = block.streams(replicate), replicate_streams(seed, replicate)
        for name in STREAM_NAMES:
            assert np.array_equal(
                getattr(ours, name).random(7), getattr(numpy_made, name).random(7)
            )
            assert getattr(ours, name).integers(0, 2**62, 3).tolist() == getattr(
                numpy_made, name
            ).integers(0, 2**62, 3).tolist()


def test_seed_sequence_states_match_numpy_for_many_keys():
    keys = np.array([[r, k] for r in (0, 1, 99, 2**31, 2**32 - 1) for k in range(7)])
    for seed in (5, 2**63 + 11):
        expected = [
            np.random.SeedSequence(seed, spawn_key=tuple(key)).generate_state(4, np.uint64)
            for key in keys.tolist()
        ]
        assert np.array_equal(seed_sequence_states(seed, keys), np.array(expected))


def test_a_replicate_reloads_its_streams_after_another_used_them():
    block = StreamBlock(9, 0, 100)
    first = block.streams(3).patients.random(4)
    block.streams(4).patients.random(50)  # the same generator object, moved on
    assert np.array_equal(block.streams(3).patients.random(4), first)


def test_negative_seeds_are_refused_as_numpy_refuses_them():
    with pytest.raises(ValueError, match="non-negative"):
        StreamBlock(-1, 0, 10)


def _halves(generator: np.random.Generator) -> tuple[int, int, int, int]:
    state = generator.bit_generator.state["state"]
    value, increment = state["state"], state["inc"]
    mask = 2**64 - 1
    return (value >> 64, value & mask, increment >> 64, increment & mask)


@pytest.mark.parametrize("seed", [0, 7, 2**40 + 3])
def test_pcg64_fill_gives_the_generator_s_doubles_at_any_position(seed):
    """Source: numpy's Generator.random, drawn in order, against the jump to each position; from
    a stream's start (uniform_stream, with and without a block) and from any state."""
    block = StreamBlock(seed, 0, 10)
    for replicate in (0, 5):
        for streams in (replicate_streams(seed, replicate), block.streams(replicate)):
            stream = streams.uniform_stream("adverse_events")
            assert stream == _halves(replicate_streams(seed, replicate).adverse_events)
        generator = replicate_streams(seed, replicate).adverse_events
        generator.random(seed % 97)  # any state, not only a freshly seeded one
        stream = _halves(generator)
        drawn = generator.random(20_000)
        out = np.full(20_000, -1.0)
        _course.pcg64_fill(out, 0, 20_000, stream, 0)
        assert np.array_equal(out, drawn)
        cases = [(0, 5, 6), (3328, 416, 546), (16_640, 0, 0), (19_000, 7, 1000)]
        for position, first, stop in cases:
            out = np.full(1000, -1.0)
            _course.pcg64_fill(out, first, stop, stream, position)
            assert np.array_equal(out[first:stop], drawn[position + first : position + stop])
            assert (out[:first] == -1).all() and (out[stop:] == -1).all()  # nothing else written


def test_spawned_streams_draw_what_numpy_seeding_draws():
    """Source: numpy, Generator(PCG64(SeedSequence(seed, spawn_key=key))).random, against
    pcg64_fill on the stream sim._course.pcg64_seed_stream seeds (a long course's own stream):
    seeds of 1 to 32 words of 32 bits, keys of one to four entries up to 2**32 - 1."""
    random = np.random.default_rng(8)
    seeds = [0, 1, 2**32 - 1, 2**32, 12345678901234567890, 10**40, 2**1000 + 7]
    seeds += random.integers(0, 2**63, 20).tolist()
    for seed in seeds:
        for length in (1, 2, 3, 4):
            key = tuple(random.integers(0, 2**32, length).tolist())
            out = np.empty(40)
            _course.pcg64_fill(out, 0, 40, spawned_uniform_stream(seed, key), 0)
            numpy_made = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))
            assert np.array_equal(out, numpy_made.random(40)), (seed, key)
    with pytest.raises(ValueError):
        spawned_uniform_stream(1, ())  # numpy pads the seed's words only for a spawn key
    with pytest.raises(ValueError):
        spawned_uniform_stream(1, (2**32,))  # numpy would take it as two words


def test_pcg64_fill_writes_only_into_float64_within_bounds():
    stream = replicate_streams(1, 0).uniform_stream("patients")
    with pytest.raises(ValueError):
        _course.pcg64_fill(np.empty(10), 5, 11, stream, 0)
    with pytest.raises(ValueError):
        _course.pcg64_fill(np.empty(10, dtype=np.float32), 0, 5, stream, 0)
