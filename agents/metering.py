"""What the platform meters of a participant's training: the weight its update carries."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Metered(Protocol):
    """What the meter reads of a participant (``agents.participants.ParticipantAgent``)."""

    samples: int
    examples_trained: int


def metered_weight(participant: Metered) -> float:
    """A participant's FedAvg weight: the distinct examples it trained on this round, as the
    platform meters them (``min(samples processed, examples trained on)``), never the data
    size it declares. FedAvg weighs by examples (McMahan et al. 2017), so extra epochs over
    the same examples buy no weight.

    Threat model: the platform meters local training (a trusted execution environment or a
    proof-of-learning transcript, Jia et al. 2021, attests the samples processed); the
    simulator stands in for that meter. A participant controls how much it trains, not what
    the meter reads, so declaring more data buys no weight, and an update backed by no
    training (a copy, a replay) has weight 0 and is rejected by :meth:`PlatformAgent.screen`.
    Not covered: training on synthetic filler data counts as processed samples.
    """
    return float(min(participant.samples, participant.examples_trained))


def distinct_examples(shard: np.ndarray) -> int:
    """The distinct examples in a shard, as the platform's meter counts them: a shard padded
    with copies of its own examples (the same index twice) counts each once, so repeating
    one's data buys no metered effort (issue 25's review: a 4x padded shard was paid 2.4x an
    honest owner). Copies under new indices (synthetic filler) are not caught here."""
    return int(np.unique(shard).size)
