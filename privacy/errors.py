"""The error raised when a secure-aggregation round cannot finish."""

from __future__ import annotations


class SecAggAborted(RuntimeError):
    """Too few clients survived for the server to recover the sum (Bonawitz et al. 2017).

    Attributes:
        stage: the stage at which the round stopped.
        survived: how many parties were left for the check that failed.
        needed: how many were needed (the Shamir threshold t).
    """

    def __init__(self, stage: str, survived: int, needed: int, what: str = "clients") -> None:
        self.stage = stage
        self.survived = survived
        self.needed = needed
        super().__init__(
            f"secure aggregation aborted at stage {stage!r}: {survived} {what} survived, "
            f"{needed} needed (threshold)"
        )
