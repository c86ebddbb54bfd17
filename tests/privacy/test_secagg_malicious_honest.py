"""The malicious-server model with an honest server: the same sums, the costs, typed aborts.

Honest rounds with dropouts at every stage give the same aggregate as the semi-honest model; a
hypothesis property checks every honest malicious round against the abort rule restated
independently in ``conftest.py``; the new messages are counted in the byte accounting and in
the choice of parameters. The attacks of a deviating server are in ``test_secagg_malicious.py``.
"""

from __future__ import annotations

from typing import get_args

import networkx as nx
import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from privacy import (
    DEFAULT_CLIP,
    MALICIOUS_STAGES,
    STAGES,
    AbortReason,
    SecAggAborted,
    ServerMisbehaved,
    TooFewSurvivors,
    secure_aggregate,
)
from privacy.graph import neighbor_graph
from tests.privacy.conftest import required_outcome, uniform_updates

CLIP = DEFAULT_CLIP


@pytest.mark.parametrize("neighbors", [None, 6])
@pytest.mark.parametrize("stage", MALICIOUS_STAGES)
def test_honest_rounds_with_dropouts_match_the_semi_honest_aggregate(
    stage: str, neighbors: int | None
) -> None:
    # Prepare: 11 clients, t = 3; two drop at `stage` (at consistency_check their masked
    # input arrived: the semi-honest equivalent is a drop at unmasking)
    updates = uniform_updates(11, seed=3)
    drops = [2, 7]
    plain_stage = "unmasking" if stage == "consistency_check" else stage
    runs = {}
    states = {}
    for model, at in (("semi_honest", plain_stage), ("malicious", stage)):
        rng = np.random.default_rng(8)
        runs[model] = secure_aggregate(
            updates,
            threshold=3,
            neighbors=neighbors,
            dropouts={at: drops},
            rng=rng,
            threat_model=model,  # type: ignore[arg-type]  # a literal from the loop above
        )
        states[model] = rng.bit_generator.state
    # Assert: same clients, bit-identical aggregate, same draws from the numpy generator
    honest, malicious = runs["semi_honest"], runs["malicious"]
    assert malicious.included == honest.included
    np.testing.assert_array_equal(malicious.aggregate, honest.aggregate)
    assert states["semi_honest"] == states["malicious"]
    expected = sum(np.clip(updates[u], -CLIP, CLIP) for u in honest.included)
    assert np.abs(malicious.aggregate - expected).max() <= malicious.max_error
    assert malicious.stages == MALICIOUS_STAGES and honest.stages == STAGES
    assert malicious.threat_model == "malicious"


def test_the_new_messages_are_counted_in_the_byte_accounting() -> None:
    updates = uniform_updates(6, seed=1)
    honest = secure_aggregate(updates, threshold=4, rng=np.random.default_rng(0))
    malicious = secure_aggregate(
        updates, threshold=4, rng=np.random.default_rng(0), threat_model="malicious"
    )
    for u in range(6):
        # each advertised key set carries a 64-byte signature, and each roster 5 of them
        assert (
            malicious.bytes_sent["advertise_keys"][u] == honest.bytes_sent["advertise_keys"][u] + 64
        )
        extra = (
            malicious.bytes_received["advertise_keys"][u]
            - honest.bytes_received["advertise_keys"][u]
        )
        assert extra == 5 * 64
        assert malicious.bytes_sent["consistency_check"][u] == 8 + 64  # id + signature
        assert malicious.bytes_received["masked_input"][u] == 4 + 6 * 8  # U3
        # the request as before, plus U3 again and the six signatures (id + 64 bytes each)
        request = honest.bytes_received["masked_input"][u]
        assert malicious.bytes_received["consistency_check"][u] == request + 4 + 48 + 4 + 6 * 72
        assert malicious.bytes_sent["share_keys"][u] == honest.bytes_sent["share_keys"][u]
    rows = malicious.stage_rows()
    assert [r["stage"] for r in rows] == list(MALICIOUS_STAGES)
    assert len(malicious.accounting_rows()) == 6 * 5


def test_threat_model_is_validated_with_a_one_line_error() -> None:
    with pytest.raises(ValueError, match=r"^threat_model: must be 'semi_honest' or 'malicious'"):
        secure_aggregate(uniform_updates(3, 0), threshold=2, threat_model="paranoid")  # type: ignore[arg-type]  # the bad input under test
    with pytest.raises(ValueError, match="unknown stage 'consistency_check'"):
        secure_aggregate(uniform_updates(3, 0), threshold=2, dropouts={"consistency_check": [1]})


def test_every_abort_has_a_typed_reason_and_the_round_graph() -> None:
    reasons = set(get_args(AbortReason))
    assert {"bad_signature", "inconsistent_survivors", "withheld_ciphertext"} <= reasons
    assert {"too_few_signatures", "too_few_survivors"} <= reasons
    classes: list[type[SecAggAborted]] = [SecAggAborted, *_subclasses(SecAggAborted)]
    assert len(classes) >= 10
    for cls in classes:
        assert cls.reason in reasons
    with pytest.raises(TooFewSurvivors) as info:
        secure_aggregate(
            uniform_updates(6, 0),
            threshold=3,
            neighbors=4,
            threat_model="malicious",
            dropouts={"consistency_check": [0, 1, 2]},
            rng=np.random.default_rng(2),
        )
    error = info.value
    assert error.reason == "too_few_survivors" and error.stage == "consistency_check"
    assert isinstance(error.graph, nx.Graph) and error.graph.number_of_nodes() == 6
    assert TooFewSurvivors("advertise_keys", 1, 2).graph is None


def _subclasses(cls: type[SecAggAborted]) -> list[type[SecAggAborted]]:
    out: list[type[SecAggAborted]] = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


@st.composite
def honest_rounds(draw: st.DrawFn) -> tuple[int, int | None, int, dict[int, str], int]:
    n = draw(st.integers(3, 14))
    neighbors = draw(st.one_of(st.none(), st.integers(1, n - 1)))
    t = draw(st.integers(2, n if neighbors is None else neighbors + 1))
    rate = draw(st.sampled_from([0.0, 0.1, 0.25]))
    coins = draw(st.lists(st.floats(0, 1), min_size=n, max_size=n))
    stages = draw(st.lists(st.sampled_from(MALICIOUS_STAGES), min_size=n, max_size=n))
    drops: dict[int, str] = {
        u: s for u, (c, s) in enumerate(zip(coins, stages, strict=True)) if c < rate
    }
    return n, neighbors, t, drops, draw(st.integers(0, 2**32 - 1))


@given(case=honest_rounds())
@settings(max_examples=60, deadline=None)
def test_honest_malicious_rounds_give_the_exact_included_sum(
    case: tuple[int, int | None, int, dict[int, str], int],
) -> None:
    n, neighbors, t, drops, seed = case
    updates = {u: np.random.default_rng(seed + u).uniform(-1.5, 1.5, size=3) for u in range(n)}
    graph = neighbor_graph(list(range(n)), neighbors, np.random.default_rng(seed))
    must, included = required_outcome(graph, t, drops, malicious=True)
    event(must or "finishes")
    dropouts: dict[str, list[int]] = {
        s: [u for u, d in drops.items() if d == s] for s in MALICIOUS_STAGES
    }
    try:
        result = secure_aggregate(
            updates,
            threshold=t,
            neighbors=neighbors,
            dropouts=dropouts,
            rng=np.random.default_rng(seed),
            threat_model="malicious",
        )
    except SecAggAborted as error:
        assert must, f"aborted although an honest round must finish: {error}"
        assert not isinstance(error, ServerMisbehaved)  # the honest server aborts first
        return
    assert not must, f"finished although {must}"
    assert result.included == included
    expected = sum(np.clip(updates[u], -CLIP, CLIP) for u in result.included)
    assert np.abs(result.aggregate - expected).max() <= result.max_error


def test_parameter_choice_counts_the_malicious_quorum() -> None:
    """A malicious-model round needs a strict majority of each client's holders alive, not
    just t: the abort bound (and so the chosen degree) must count that quorum."""
    from privacy.parameters import failure_bounds, secaggplus_parameters

    # k = 17: 18 holders, t = 9 at threshold share 0.5, but the quorum is 10
    semi = failure_bounds(100, neighbors=17, threshold=9, dropout_rate=0.2)
    malicious = failure_bounds(
        100, neighbors=17, threshold=9, dropout_rate=0.2, threat_model="malicious"
    )
    assert malicious[0] > semi[0] and malicious[1] == semi[1]
    # k = 4: 5 holders, t = 3 is already a majority: nothing changes
    assert failure_bounds(
        50, neighbors=4, threshold=3, dropout_rate=0.1, threat_model="malicious"
    ) == failure_bounds(50, neighbors=4, threshold=3, dropout_rate=0.1)
    chosen = {
        model: secaggplus_parameters(100, dropout_rate=0.2, min_neighbors=7, threat_model=model)
        for model in ("semi_honest", "malicious")
    }
    degree = {m: (c.neighbors or 99) for m, c in chosen.items()}
    assert degree["malicious"] >= degree["semi_honest"]
    assert chosen["malicious"].meets_target
    with pytest.raises(ValueError, match="threat_model"):
        failure_bounds(10, neighbors=4, threshold=3, dropout_rate=0.1, threat_model="evil")
