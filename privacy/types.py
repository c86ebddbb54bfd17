"""Type aliases shared by the secure-aggregation modules."""

from __future__ import annotations

from typing import Any, Final, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

ClientId: TypeAlias = int
"""A client's id: any non-negative int (ids need not be 0..n-1)."""

Stage: TypeAlias = Literal[
    "advertise_keys", "share_keys", "masked_input", "consistency_check", "unmasking"
]
"""A round of Bonawitz et al. (2017), Fig. 4; "consistency_check" only in the malicious model."""

STAGES: Final[tuple[Stage, ...]] = ("advertise_keys", "share_keys", "masked_input", "unmasking")
"""The stages of the semi-honest protocol, in order."""

MALICIOUS_STAGES: Final[tuple[Stage, ...]] = (
    "advertise_keys",
    "share_keys",
    "masked_input",
    "consistency_check",
    "unmasking",
)
"""The stages of the malicious-server protocol (Bonawitz et al. 2017, Sec. 4.2), in order."""

ThreatModel: TypeAlias = Literal["semi_honest", "malicious"]
"""What the server may do: follow the protocol (semi_honest) or deviate from it (malicious)."""

THREAT_MODELS: Final[tuple[ThreatModel, ...]] = ("semi_honest", "malicious")
"""The supported threat models; "semi_honest" is the default everywhere."""

RingVector: TypeAlias = npt.NDArray[np.unsignedinteger[Any]]
"""Elements of Z_2^bits stored as uint32 (bits <= 32) or uint64 (bits <= 64)."""

FloatVector: TypeAlias = npt.NDArray[np.float64]
"""A flat float64 vector."""

Share: TypeAlias = bytes
"""One Shamir share, self-describing (x-coordinate and value), see `privacy.shamir`."""
