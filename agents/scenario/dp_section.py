"""The ``[privacy.dp]`` table: client-level differential privacy (DP-FedAvg with distributed
noise shares; the mechanism and its accounting: :mod:`privacy.dp`, :mod:`agents.dp`)."""

from __future__ import annotations

from dataclasses import dataclass

from agents.scenario.errors import is_number, require
from agents.scenario.spec import check_fields, setting

BUDGET_COVERS = ("scoring", "model")
MAX_MENU = 16
"""Most clip factors an epsilon menu may offer."""


@dataclass(frozen=True)
class DPSection:
    """Client-level differential privacy of every released sum.

    Off by default. On, every included update is clipped to L2 norm ``clip`` and every sum
    the platform releases (the model's, and each coalition sum scoring evaluates) carries
    Gaussian noise shares added by the clients (before masking under secure aggregation).
    The noise multiplier is solved from ``epsilon`` for a participant included every round,
    unless ``noise_multiplier`` fixes it; each participant's epsilon is then accounted from
    what was actually released (``dp_epsilon`` in the tables).
    """

    enabled: bool = setting(False, "Add client-level differential privacy (DP-FedAvg).")
    epsilon: float = setting(
        8.0,
        "The privacy budget of a participant included in every round, at delta; the noise "
        "is solved for it.",
        within="(0, 1000]",
    )
    delta: float = setting(
        1e-5,
        "The delta every epsilon is reported at (below 1 / the number of identities).",
        within="(0, 0.1]",
    )
    clip: float = setting(
        1.0, "Each update is scaled down to this L2 norm before it is summed.", within="(0, inf)"
    )
    noise_multiplier: float = setting(
        0.0,
        "Fix the noise (std of a released sum over clip) instead of solving it from epsilon; "
        "0: solve.",
        within="[0, 1e6]",
    )
    budget_covers: str = setting(
        "scoring",
        "What the epsilon target is solved for: scoring (Shapley-style scoring's coalition "
        "sums determine each noised update, so each client's own share must protect it) or "
        "model (the model's sum alone; scoring then spends more, and the tables say how much).",
        choices=BUDGET_COVERS,
    )
    scoring_share: float = setting(
        0.0,
        "Give scoring its own, larger noise shares and this share of the budget (in GDP "
        "mu^2); the model's shares get the rest, so the model stays accurate while the "
        "scores grow noisier (their standard errors say by how much). 0: scoring's coalition "
        "sums carry the model's shares (and budget_covers decides).",
        within="[0, 0.99]",
    )
    menu: tuple[float, ...] = setting(
        (),
        "Clip factors (shares of clip, each in (0, 1]) a participant may choose from each "
        "round: a smaller one spends less epsilon (mu^2 scales with its square) and carries "
        "less signal; each picks the one that maximises its expected pay less its privacy "
        "cost (agents.privacy_economics). Empty: every update is held to clip.",
    )

    def __post_init__(self) -> None:
        check_fields(self, "privacy.dp")
        require(isinstance(self.enabled, bool), "privacy.dp.enabled", "must be true or false")
        require(
            not (self.scoring_share > 0 and self.noise_multiplier > 0),
            "privacy.dp.scoring_share",
            "splits a budget solved from epsilon; set privacy.dp.noise_multiplier = 0",
        )
        menu = self.menu
        require(
            isinstance(menu, list | tuple) and len(menu) <= MAX_MENU,
            "privacy.dp.menu",
            f"must be a list of at most {MAX_MENU} clip factors, got {menu!r}",
        )
        for factor in menu:
            require(
                is_number(factor) and 0 < factor <= 1,
                "privacy.dp.menu",
                f"each clip factor must be a number in (0, 1], got {factor!r}",
            )
        object.__setattr__(self, "menu", tuple(float(c) for c in menu))
