"""Seed streams: the block-seeded generators against numpy's own SeedSequence and PCG64."""

import numpy as np
import pytest

from sim.rng import STREAM_NAMES, StreamBlock, replicate_streams, seed_sequence_states


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
