"""The platform reads individual updates only as the access mode declares (issue 27, part 1).

Prepare: a small head-mode market (honest owners, a free rider, a replicating Sybil, a
boosting poisoner) under each access mode, with every read of a participant's ``update``
recorded by the file that made it, and every ``UpdateStore`` the rounds build.
Execute: three rounds.
Assert: outside the client (``agents/participants.py``) and the submission channel
(``agents/model.py``) nothing reads a participant's update; the store's reads are exactly the
mode's declared reader's, for every submitted client; ``exposed_clients`` counts the
server's reads. Broken variants (a platform phase that reads ``p.update``, a store that lets
the server read under ``secure_coalitions``) are caught by the same checks.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import agents.update_store as update_store
from agents.model import MarketModel
from agents.notices import SECURE_COALITIONS_OFF, run_notices
from agents.participants import ParticipantAgent
from agents.platform import PlatformAgent
from agents.scenario import ParticipantGroup, Scenario
from agents.update_store import UndeclaredRead, UpdateStore

ROUNDS = 3
CLIENT_SIDE = {"agents/participants.py", "agents/model.py"}
GROUPS = (
    ParticipantGroup("honest", count=4, data_size=60),
    ParticipantGroup("rider", count=1, data_size=60, strategy="free_rider"),
    ParticipantGroup(
        "sybil",
        count=1,
        data_size=60,
        strategy="sybil",
        sybil_identities=2,
        sybil_mode="replicate",
    ),
    ParticipantGroup("booster", count=1, data_size=60, strategy="poisoner", poison_scale=1e4),
)


@dataclasses.dataclass
class Played:
    rounds: pd.DataFrame
    readers: set[str]  # files, relative to the repository, that read a participant's update
    stores: list[UpdateStore]


def _scenario(access: str) -> Scenario:
    base = Scenario(name="access", rounds=ROUNDS, seed=0).replace("model.mode", "head")
    base = dataclasses.replace(base, participants=GROUPS)
    privacy = dataclasses.replace(
        base.privacy, secure_aggregation=access != "plaintext", access=access
    )
    return dataclasses.replace(base, privacy=privacy)


def _play(access: str, monkeypatch: pytest.MonkeyPatch) -> Played:
    root = Path(__file__).resolve().parents[2]
    readers: set[str] = set()
    stores: list[UpdateStore] = []

    def get(self: ParticipantAgent) -> Any:
        caller = Path(sys._getframe(1).f_code.co_filename).resolve()
        readers.add(str(caller.relative_to(root)) if caller.is_relative_to(root) else str(caller))
        return self.__dict__["update"]

    def put(self: ParticipantAgent, value: Any) -> None:
        self.__dict__["update"] = value

    real_init = UpdateStore.__init__

    def init(self: UpdateStore, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        stores.append(self)

    monkeypatch.setattr(ParticipantAgent, "update", property(get, put), raising=False)
    monkeypatch.setattr(UpdateStore, "__init__", init)
    model = MarketModel(_scenario(access))
    for _ in range(ROUNDS):
        model.step()
    return Played(model.rounds_table(), readers, stores)


@pytest.mark.parametrize("access", ["plaintext", "trusted_evaluator", "secure_coalitions"])
def test_platform_reads_only_what_the_access_mode_declares(
    access: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    played = _play(access, monkeypatch)
    assert played.readers <= CLIENT_SIDE, f"undeclared readers: {played.readers - CLIENT_SIDE}"
    rounds = played.rounds[played.rounds["round"] >= 1].reset_index(drop=True)
    assert len(played.stores) == ROUNDS
    for row, store in zip(rounds.itertuples(), played.stores, strict=True):
        server, evaluator = store.reads(update_store.SERVER), store.reads(update_store.EVALUATOR)
        assert (row.server_reads, row.evaluator_reads) == (len(server), len(evaluator))
        if access == "secure_coalitions":
            assert not server and not evaluator
            assert row.exposed_clients <= row.included  # the leak audit of released sums only
        elif access == "trusted_evaluator":
            assert not server
            assert row.evaluator_reads >= row.included > 0  # screened and scored inside it
            assert row.exposed_clients == 0
        else:
            assert not evaluator
            assert row.server_reads >= row.included > 0
            assert row.exposed_clients == row.server_reads  # every read is an exposure


def test_plaintext_counts_the_rejected_updates_the_server_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A screened-out update was still read in the clear: it is exposed too."""
    rounds = _play("plaintext", monkeypatch).rounds
    played = rounds[rounds["round"] >= 1]
    assert (played["rejected"] > 0).any()
    assert (played["exposed_clients"] == played["included"] + played["rejected"]).all()


def test_secure_coalitions_switches_screening_off_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No server-side screen: the booster skips the client-side check and is aggregated
    (secure aggregation clips it per coordinate); the free rider is not screened."""
    rounds = _play("secure_coalitions", monkeypatch).rounds
    trusted = _play("trusted_evaluator", monkeypatch).rounds
    assert rounds["rejected"].sum() < trusted["rejected"].sum()
    assert run_notices(_scenario("secure_coalitions")) == [SECURE_COALITIONS_OFF]
    assert run_notices(_scenario("trusted_evaluator")) == []


def test_a_faulty_client_rejects_its_own_update_before_masking() -> None:
    """Under secure_coalitions the validity check runs client-side: a NaN update from a
    protocol-following client is never sent; a poisoner skips the check."""
    model = MarketModel(_scenario("secure_coalitions"))
    honest = next(p for p in model.participants if p.strategy == "honest")
    booster = next(p for p in model.participants if p.strategy == "poisoner")
    size = len(model.global_vector)
    honest.update = np.full(size, np.nan, dtype=np.float32)
    booster.update = np.full(size, 1e6, dtype=np.float32)
    assert honest.check_own_update(size, 10.0) == "update contains NaN or Inf"
    assert booster.check_own_update(size, 10.0) == ""


def test_broken_platform_that_reads_an_update_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pay phase that peeks at ``p.update`` shows up as an undeclared reader."""
    real_pay = PlatformAgent.pay

    def peeking_pay(self: PlatformAgent, included: list[Any], store: Any) -> float:
        _ = [float(np.linalg.norm(p.update)) for p in included]
        return real_pay(self, included, store)

    monkeypatch.setattr(PlatformAgent, "pay", peeking_pay)
    played = _play("secure_coalitions", monkeypatch)
    assert played.readers - CLIENT_SIDE == {"tests/agents/test_update_access.py"}


def test_broken_declaration_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A store that let the server read under secure_coalitions would show its reads."""
    monkeypatch.setitem(update_store.DECLARED_READER, "secure_coalitions", update_store.SERVER)
    rounds = _play("secure_coalitions", monkeypatch).rounds
    assert rounds["server_reads"].sum() > 0
    assert (rounds["exposed_clients"] >= rounds["server_reads"]).all()


def test_store_refuses_reads_the_mode_does_not_declare() -> None:
    store = UpdateStore("secure_coalitions", {3: np.ones(4, dtype=np.float32)})
    with pytest.raises(UndeclaredRead, match="client 3"):
        store.read(3, purpose="free-rider screen")
    assert store.secure_inputs([3])[3].shape == (4,)  # the client's own masking input
    assert store.reads(update_store.SERVER) == frozenset()
