"""Secure aggregation (SecAgg, SecAgg+) with real cryptography, and a leak audit.

`secure_aggregate` simulates one round of Bonawitz et al. (2017), "Practical Secure Aggregation
for Privacy-Preserving Machine Learning", optionally on the sparse neighbour graph of SecAgg+
(Bell et al. 2020): X25519 + HKDF-SHA256 key agreement, AES-256-GCM encrypted Shamir shares,
AES-256-CTR masks over Z_2^bits, double masking, dropouts at any stage, and per-stage byte and
time accounting. `exposed_clients` says which clients' updates a set of released coalition sums
gives away.

Threat model (details in `privacy.protocol`): the server is honest but curious and learns only
the sum of at least t clients' clipped updates; up to t - 1 clients colluding with it learn
nothing more about an honest client's update (t = 1 tolerates no colluding client). Out of scope:
malicious clients sending out-of-range inputs (clipping is client-side and trusted), an active
server that lies about dropouts (there is no consistency-check round), and what the released
sums themselves reveal (measured by `exposed_clients`).
"""

from privacy.audit import exposed_clients
from privacy.errors import SecAggAborted
from privacy.simulation import (
    DEFAULT_CLIP,
    AccountingRow,
    SecAggResult,
    StageRow,
    secure_aggregate,
)
from privacy.types import STAGES, Stage

__all__ = [
    "DEFAULT_CLIP",
    "AccountingRow",
    "STAGES",
    "SecAggAborted",
    "SecAggResult",
    "Stage",
    "StageRow",
    "exposed_clients",
    "secure_aggregate",
]
