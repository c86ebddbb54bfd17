"""Dropouts and stragglers at every secure-aggregation stage: the exact sum or a clean abort.

Issue 8, item 3, at the privacy layer (most of the generated cases; the whole-round cases
through the agents are in ``test_round_faults.py``). Each generated round has random clients,
threshold, SecAgg or SecAgg+ graph, ring size, clipping bound and, per client, a fate:

* ``drop:STAGE``: sends nothing from that stage on (crash, lost connection);
* ``late:STAGE``: a straggler that misses that stage's deadline: the server closes the stage
  without it, and the late message is delivered afterwards (it must be refused and must not
  change anything);
* ``ok``.

Every round must either return the exact sum (within the stated quantisation bound
``max_error``) of the clipped updates of exactly the clients whose masked input arrived in
time, or raise ``SecAggAborted`` -- exactly when the rules of Bonawitz et al. (2017) say the
server cannot recover the sum. The abort rule is restated independently of ``privacy.protocol``
(``tests/privacy/conftest.py``, shared with ``tests/privacy/test_secagg_protocol.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import networkx as nx
import numpy as np
import pytest
from hypothesis import event, given, settings

from privacy import STAGES, SecAggAborted, TooFewSurvivors, quantization, secure_aggregate
from privacy.messages import UnmaskRequest
from privacy.protocol import SecAggServer
from tests.privacy.conftest import RoundCase, required_outcome, round_cases, through_share_keys

CASES = 900
"""Generated rounds at the privacy layer (with ``test_round_faults.py``: over 1,000)."""

plans = round_cases(
    sizes=(2, 10), max_id=2**20, rates=[0.0, 0.1, 0.3, 0.6, 1.0], kinds=["drop", "late"]
)
"""Rounds of 2 to 10 clients, each ``drop:STAGE``, ``late:STAGE`` or on time."""


def _refused(deliver: Callable[[list[Any]], Any], message: Any) -> bool:
    """Deliver a late message to a server stage; True when the server refuses it."""
    try:
        deliver([message])
    except (RuntimeError, ValueError):
        return True
    return False


def run_with_stragglers(
    plan: RoundCase, updates: Mapping[int, np.ndarray]
) -> tuple[np.ndarray, frozenset[int], nx.Graph, int]:
    """Route one round through the real client and server objects with late messages.

    Returns the dequantised sum, the server's included set, the graph, and how many late
    messages were delivered (all of which must have been refused). Raises SecAggAborted.
    """
    prepared = plan.prepare(updates)
    server = SecAggServer(prepared.config)
    clients = prepared.clients
    late_delivered = 0

    def stage(index: int, method: str, inputs: Mapping[int, Any] | None) -> Any:
        nonlocal late_delivered
        name = STAGES[index]
        eligible = sorted(clients) if inputs is None else sorted(inputs)
        on_time, late = [], []
        for u in eligible:
            fate = plan.fates.get(u, "ok")
            if plan.stops(u) > index:
                call = getattr(clients[u], method)
                on_time.append(call() if inputs is None else call(inputs[u]))
            elif fate == f"late:{name}":
                call = getattr(clients[u], method)
                late.append(call() if inputs is None else call(inputs[u]))
        replies = getattr(server, method)(on_time)
        before = replies.copy()  # what the server answered before any late message arrived
        for message in late:
            late_delivered += 1
            assert _refused(getattr(server, method), message), f"late {name} accepted"
        if isinstance(replies, np.ndarray):
            np.testing.assert_array_equal(replies, before)
        else:
            assert replies == before
        return replies

    rosters = stage(0, "advertise_keys", None)
    inboxes = stage(1, "share_keys", rosters)
    requests = stage(2, "masked_input", inboxes)
    total = stage(3, "unmasking", requests)  # only clients the server asked can answer late
    assert isinstance(total, np.ndarray)
    aggregate = quantization.dequantize(
        total, clip=plan.clip, bits=plan.bits, n_summands=len(plan.ids)
    )
    return aggregate, server.included, prepared.graph, late_delivered


@given(plan=plans)
@settings(max_examples=CASES, deadline=None)
def test_every_round_is_the_exact_sum_of_the_included_or_a_clean_abort(plan: RoundCase) -> None:
    # Prepare
    updates = plan.updates()
    stragglers = any(f.startswith("late") for f in plan.fates.values())
    event("stragglers" if stragglers else "dropouts only")
    event("complete graph" if plan.neighbors is None else "SecAgg+ graph")
    # Execute
    try:
        if stragglers:
            aggregate, included, graph, late = run_with_stragglers(plan, updates)
            event(f"late messages refused: {min(late, 3)}{'+' if late >= 3 else ''}")
        else:
            result = plan.aggregate(updates)
            aggregate, included, graph = result.aggregate, result.included, result.graph
            assert result.max_error == quantization.max_error(
                clip=plan.clip, bits=plan.bits, n_summands=len(plan.ids), m=len(included)
            )
    except SecAggAborted as error:
        # Assert (abort): clean, for the stated reason, and only when recovery is impossible
        graph = plan.prepare(updates).graph
        must_abort, _ = required_outcome(graph, plan.threshold, plan.missed)
        event("aborted")
        assert must_abort, f"aborted although the sum was recoverable: {error}"
        assert error.stage in STAGES
        if isinstance(error, TooFewSurvivors):
            assert error.needed == plan.threshold
            assert error.survived is not None and error.survived < error.needed
        assert "\n" not in str(error) and str(error).startswith("secure aggregation aborted")
        return
    # Assert (sum): exactly the clients whose masked input arrived in time, exactly summed
    must_abort, expected_included = required_outcome(graph, plan.threshold, plan.missed)
    event("finished")
    assert not must_abort, "finished although the server cannot have recovered the sum"
    assert included == expected_included
    assert len(included) >= plan.threshold
    clipped = [np.clip(updates[u], -plan.clip, plan.clip) for u in sorted(included)]
    expected = np.sum(clipped, axis=0)
    bound = quantization.max_error(
        clip=plan.clip, bits=plan.bits, n_summands=len(plan.ids), m=len(included)
    )
    assert np.abs(aggregate - expected).max() <= bound


FOUR = {u: np.full(3, 0.1 * (u + 1)) for u in range(4)}
"""Four clients' updates; any two of them are enough (t = 2)."""


def _finished_round(seed: int = 3) -> tuple[SecAggServer, list[Any], np.ndarray]:
    prepared, server, inboxes = through_share_keys(FOUR, threshold=2, seed=seed)
    clients = prepared.clients
    requests = server.masked_input([clients[u].masked_input(inboxes[u]) for u in range(4)])
    revealed = [clients[u].unmasking(requests[u]) for u in range(4)]
    total = server.unmasking(revealed)
    return server, revealed, total


def test_a_finished_round_refuses_late_unmasking_from_a_client_it_did_not_ask() -> None:
    # Prepare: a round where client 3 missed masked_input (a straggler)
    prepared, server, inboxes = through_share_keys(FOUR, threshold=2, seed=5)
    clients = prepared.clients
    late_input = clients[3].masked_input(inboxes[3])
    requests = server.masked_input([clients[u].masked_input(inboxes[u]) for u in range(3)])
    # Execute
    with pytest.raises(RuntimeError, match="stage"):
        server.masked_input([late_input])  # the deadline has passed
    total = server.unmasking([clients[u].unmasking(requests[u]) for u in range(3)])
    # Assert: the late client is not in the sum, and its input can never be unmasked
    assert server.included == {0, 1, 2} and 3 not in requests
    np.testing.assert_allclose(
        quantization.dequantize(total, clip=1.0, bits=32, n_summands=4), [0.6] * 3, atol=1e-8
    )


def test_a_replayed_unmasking_batch_cannot_change_a_finished_sum() -> None:
    # Prepare
    server, revealed, total = _finished_round()
    first = total.copy()
    # Execute: the network delivers the same unmasking batch again (a retransmission)
    with pytest.raises(RuntimeError):
        server.unmasking(revealed)
    # Assert: the sum already handed out is unchanged
    np.testing.assert_array_equal(total, first)


def test_a_tiny_clipping_bound_keeps_the_stated_error_bound() -> None:
    updates = {0: np.array([0.5, -0.5, 0.0]), 1: np.array([1e-301, 0.3, 0.0])}
    clip = 1e-300
    result = secure_aggregate(updates, threshold=2, clip=clip, rng=np.random.default_rng(0))
    expected = np.clip(updates[0], -clip, clip) + np.clip(updates[1], -clip, clip)
    assert np.abs(result.aggregate - expected).max() <= result.max_error


def test_a_client_answers_only_one_unmasking_request() -> None:
    # Prepare: a finished masked_input stage (every client alive)
    prepared, server, inboxes = through_share_keys(FOUR, threshold=2, seed=7)
    clients = prepared.clients
    server.masked_input([clients[u].masked_input(inboxes[u]) for u in range(4)])
    first = UnmaskRequest(self_mask_owners=frozenset({0, 1}), secret_key_owners=frozenset())
    second = UnmaskRequest(self_mask_owners=frozenset(), secret_key_owners=frozenset({1}))
    # Execute: a server that asks client 0 twice, once for each of client 1's secrets
    revealed = clients[0].unmasking(first)
    assert 1 in revealed.self_mask_shares
    # Assert: with both, t such clients would let the server unmask client 1's own input
    with pytest.raises(RuntimeError, match="stage"):
        clients[0].unmasking(second)
