"""Seed streams: one root SeedSequence per run, child i for replicate i, named substreams.

numpy's parallel-RNG guide: SeedSequence(seed, spawn_key=(i,)) is exactly the i-th child of
SeedSequence(seed).spawn(), so replicate i draws the same numbers whichever worker runs it.
"""

from dataclasses import dataclass

import numpy as np

# Order matters: substream k of a replicate is the k-th child of that replicate's SeedSequence.
# Append new concerns at the end so existing streams (and results) do not move.
STREAM_NAMES = ("accrual", "patients", "toxicity", "assessment", "dosefinding", "allocation")


@dataclass(frozen=True)
class ReplicateStreams:
    accrual: np.random.Generator
    patients: np.random.Generator
    toxicity: np.random.Generator
    assessment: np.random.Generator
    dosefinding: np.random.Generator
    allocation: np.random.Generator


def replicate_streams(seed: int, replicate: int) -> ReplicateStreams:
    """The generators of replicate `replicate` (0-based) of a run seeded with `seed`."""
    sequence = np.random.SeedSequence(seed, spawn_key=(replicate,))
    children = sequence.spawn(len(STREAM_NAMES))
    return ReplicateStreams(*(np.random.Generator(np.random.PCG64(c)) for c in children))
