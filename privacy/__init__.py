"""Secure aggregation (SecAgg, SecAgg+) with real cryptography, and a leak audit.

`secure_aggregate` simulates one round of Bonawitz et al. (2017), "Practical Secure Aggregation
for Privacy-Preserving Machine Learning", optionally on the sparse neighbour graph of SecAgg+
(Bell et al. 2020): X25519 + HKDF-SHA256 key agreement, AES-256-GCM encrypted Shamir shares,
AES-256-CTR masks over Z_2^bits, double masking, dropouts at any stage, and per-stage byte and
time accounting. `secaggplus_parameters` picks the neighbour count and threshold for a dropout
rate (Bell et al.). `leak_report` says which clients and groups a set of released coalition
sums gives away.

Threat model (details in `privacy.protocol`), chosen per round with `threat_model`:
"semi_honest" (default): an honest-but-curious server learns the sum of the included clients
(at least t >= 2 of them, connected in the graph) and nothing finer; an active server that
substitutes keys or lies about dropouts can unmask a client. "malicious": keys are signed under
a PKI set up before the round (Ed25519) and the consistency-check round of Bonawitz et al. runs,
so key substitution, split survivor sets and withheld or redirected ciphertexts end in a typed
abort; the server can still choose which set (>= t clients) is summed. Fewer than t
colluding holders of a client learn nothing more. Not protected in either model: malicious
clients (clipping is client-side and trusted), and what the released sums themselves reveal
(measured by `leak_report`). Keys, seeds, Shamir coefficients and nonces always come from the
OS CSPRNG.
"""

from privacy import dp
from privacy.audit import LeakReport, exposed_clients, leak_report
from privacy.config import check_threat_model
from privacy.errors import (
    AbortReason,
    BadSignature,
    BadUnmaskRequest,
    DisconnectedSurvivors,
    ForgedCiphertext,
    InconsistentSurvivors,
    InvalidShare,
    SecAggAborted,
    ServerMisbehaved,
    TooFewSignatures,
    TooFewSurvivors,
    WithheldCiphertext,
)
from privacy.parameters import (
    SecAggParameters,
    failure_bounds,
    secaggplus_parameters,
    threshold_of,
)
from privacy.simulation import (
    DEFAULT_CLIP,
    AccountingRow,
    SecAggResult,
    StageRow,
    secure_aggregate,
)
from privacy.types import MALICIOUS_STAGES, STAGES, THREAT_MODELS, Stage, ThreatModel

__all__ = [
    "dp",
    "DEFAULT_CLIP",
    "MALICIOUS_STAGES",
    "STAGES",
    "THREAT_MODELS",
    "AbortReason",
    "AccountingRow",
    "BadSignature",
    "BadUnmaskRequest",
    "DisconnectedSurvivors",
    "ForgedCiphertext",
    "InconsistentSurvivors",
    "InvalidShare",
    "LeakReport",
    "SecAggAborted",
    "SecAggParameters",
    "SecAggResult",
    "ServerMisbehaved",
    "Stage",
    "StageRow",
    "ThreatModel",
    "TooFewSignatures",
    "TooFewSurvivors",
    "WithheldCiphertext",
    "check_threat_model",
    "exposed_clients",
    "failure_bounds",
    "leak_report",
    "secaggplus_parameters",
    "threshold_of",
    "secure_aggregate",
]
