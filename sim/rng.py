"""Seed streams: one root SeedSequence per run, child i for replicate i, named substreams.

numpy's parallel-RNG guide: SeedSequence(seed, spawn_key=(i,)) is exactly the i-th child of
SeedSequence(seed).spawn(), so replicate i draws the same numbers whichever worker runs it.
"""

import numpy as np

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

    __slots__ = ("seed", "replicate", *STREAM_NAMES)

    def __init__(self, seed: int, replicate: int):
        self.seed = seed
        self.replicate = replicate

    def __getattr__(self, name: str) -> np.random.Generator:
        index = _STREAM_INDEX.get(name)
        if index is None:
            raise AttributeError(name)
        sequence = np.random.SeedSequence(self.seed, spawn_key=(self.replicate, index))
        generator = np.random.Generator(np.random.PCG64(sequence))
        setattr(self, name, generator)
        return generator


def replicate_streams(seed: int, replicate: int) -> ReplicateStreams:
    """The generators of replicate `replicate` (0-based) of a run seeded with `seed`."""
    return ReplicateStreams(seed, replicate)
