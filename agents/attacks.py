"""The adversary gym: what each attack gains over playing honestly, mechanism by mechanism.

:func:`attack_matrix` plays every attack of :data:`ATTACKS` against every mechanism on a
base scenario. An attack appends one *attacker* group (owners with the base's first group's
data size and cost, or :data:`COLLUDERS` owners for collusion) at the end of the base's
groups; its *honest twin* is the same group with ``strategy = "honest"``. Being last, the
attacker's owners get the same data in both runs (data are allocated per owner, in order,
from the same seed), and the other participants are unchanged. The attacker's payoff is
``reward - cost`` summed over all its owners' identities over the run; the gain is that
payoff minus the twin's, absolute and relative to ``|twin payoff|``, averaged over seeds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from agents.scenario import ParticipantGroup, Scenario, ScenarioError

if TYPE_CHECKING:
    import pandas as pd

ATTACKER = "attacker"
"""Name of the attacker group appended to the base scenario."""
COLLUDERS = 3
"""Owners in a colluding group (and in its honest twin)."""
LATE_ROUND = 3
"""The round a ``late_joiner`` first shows up in (its twin is there from round 1)."""

ATTACKS: Mapping[str, Mapping[str, Any]] = {
    "free_ride_zero": {"strategy": "free_rider", "free_ride": "zero"},
    "free_ride_stale": {"strategy": "free_rider", "free_ride": "stale"},
    "free_ride_disguised": {"strategy": "free_rider", "free_ride": "disguised"},
    "underbid_cost": {"bid_factor": 0.2},
    "overbid_cost": {"bid_factor": 3.0},
    "inflate_size": {"size_factor": 3.0},
    "sybil_split": {"strategy": "sybil", "sybil_identities": 3},
    "sybil_replicate": {"strategy": "sybil", "sybil_identities": 3, "sybil_mode": "replicate"},
    "sign_flip": {"strategy": "poisoner", "poison_scale": -1.0},
    "boost_x3": {"strategy": "poisoner", "poison_scale": 3.0},
    "label_flip": {"strategy": "noisy", "flip_rate": 1.0},
    "collude": {"strategy": "colluder", "count": COLLUDERS, "copy_noise": 0.2},
    "copycat": {"strategy": "copycat", "copy_noise": 0.05},
    "replay_old": {"strategy": "replay", "replay_lag": 2, "copy_noise": 0.1},
    "plagiarist": {"strategy": "plagiarist"},
    "lazy": {"strategy": "lazy", "lazy_samples": 16},
    "size_misreport": {"size_factor": 3.0},
    "cost_misreport": {"bid_factor": 3.0},
    "complementary_split": {
        "strategy": "sybil",
        "sybil_identities": 3,
        "sybil_mode": "complementary",
    },
    "subtle_poisoner": {"strategy": "poisoner", "poison_scale": -0.3},
    "late_joiner": {"join_round": LATE_ROUND},
}
"""Attack name -> the attacker group's fields (see ``agents.participants``)."""

COLUMNS = (
    "mechanism",
    "attack",
    "gain",
    "gain_std",
    "relative_gain",
    "relative_low",
    "relative_high",
    "attack_payoff",
    "honest_payoff",
    "seeds",
)


@dataclass(frozen=True)
class Game:
    """One attack on one mechanism and seed: the attacker's and its twin's scenarios."""

    mechanism: str
    attack: str
    seed: int
    attacked: Scenario
    twin: Scenario


def attacker_groups(base: Scenario, attack: str) -> tuple[ParticipantGroup, ParticipantGroup]:
    """The attacker group of ``attack`` and its honest twin, modelled on ``base``'s first group."""
    if attack not in ATTACKS:
        raise ScenarioError("attacks", f"{attack!r} is not one of {sorted(ATTACKS)}")
    model = base.participants[0]
    twin = replace(model, name=ATTACKER, count=1, strategy="honest", availability=1.0)
    fields = dict(ATTACKS[attack])
    twin = replace(twin, count=int(fields.pop("count", 1)))
    return replace(twin, **fields), twin


def games(
    base: Scenario, mechanisms: Sequence[str], attacks: Sequence[str], seeds: Sequence[int]
) -> list[Game]:
    """Every (mechanism, attack, seed) game (validates every name first)."""
    import market

    for name in mechanisms:
        if name not in market.MECHANISMS:
            raise ScenarioError("mechanisms", f"{name!r} is not one of {sorted(market.MECHANISMS)}")
    if not seeds:
        raise ScenarioError("seeds", "give at least one seed")
    out = []
    for mechanism in mechanisms:
        for attack in attacks:
            attacker, twin = attacker_groups(base, attack)
            for seed in seeds:
                common = base.replace("market.mechanism", mechanism).replace("seed", int(seed))
                out.append(
                    Game(
                        mechanism=mechanism,
                        attack=attack,
                        seed=int(seed),
                        attacked=replace(common, participants=(*base.participants, attacker)),
                        twin=replace(common, participants=(*base.participants, twin)),
                    )
                )
    return out


def attacker_payoff(participants: pd.DataFrame) -> float:
    """``reward - cost`` summed over the attacker group's identities over the run."""
    rows = participants[participants["group"] == ATTACKER]
    return float(rows["reward"].sum() - rows["cost"].sum())


def attack_matrix(
    base: Scenario,
    *,
    mechanisms: Sequence[str] | None = None,
    attacks: Sequence[str] | None = None,
    seeds: Sequence[int] = (0, 1),
    progress: Callable[[int, int, str], None] | None = None,
    task: Any = None,
) -> pd.DataFrame:
    """One row per mechanism x attack: the attacker's payoff gain over playing honestly.

    Args:
        base: the market (its honest participants; its first group is the attacker's model).
        mechanisms: names of ``market.MECHANISMS`` (default: all).
        attacks: names of :data:`ATTACKS` (default: all).
        seeds: each game is played on each seed; twins share the seed (and data).
        progress: called as ``progress(done, total, label)`` after every run (for a UI).
        task: a ``fl_core.FederatedTask`` to share between runs (default: one is built once
            from ``base`` and reused; every run has the same model and data sections).

    Returns:
        A DataFrame with :data:`COLUMNS`: ``gain`` (mean over seeds of attack payoff minus
        honest payoff), ``gain_std`` (its standard deviation over seeds; NaN for one seed),
        ``relative_gain`` (a ratio of means: ``mean gain / |mean honest payoff|``; NaN when
        that is 0) with its 95% interval ``relative_low``/``relative_high``
        (:func:`ratio_interval`, paired bootstrap over seeds), the mean payoffs and the number
        of seeds.
    """
    import market

    chosen_mechanisms = list(mechanisms) if mechanisms is not None else list(market.MECHANISMS)
    chosen_attacks = list(attacks) if attacks is not None else list(ATTACKS)
    plan = games(base, chosen_mechanisms, chosen_attacks, list(seeds))
    import numpy as np
    import pandas as pd

    from agents.model import MarketModel
    from agents.run import run

    if task is None:
        task = MarketModel(plan[0].twin).task
    twins: dict[Scenario, float] = {}
    runs = len(plan) + len({g.twin for g in plan})
    done = 0

    def play(scenario: Scenario, label: str) -> float:
        nonlocal done
        result = run(scenario, model=MarketModel(scenario, task=task))
        done += 1
        if progress is not None:
            progress(done, runs, label)
        return attacker_payoff(result.participants)

    records = []
    for game in plan:
        if game.twin not in twins:
            twins[game.twin] = play(game.twin, f"{game.mechanism} honest seed {game.seed}")
        honest = twins[game.twin]
        attacked = play(game.attacked, f"{game.mechanism} {game.attack} seed {game.seed}")
        relative = (attacked - honest) / abs(honest) if abs(honest) > 1e-9 else float("nan")
        records.append(
            {
                "mechanism": game.mechanism,
                "attack": game.attack,
                "gain": attacked - honest,
                "relative": relative,
                "attack_payoff": attacked,
                "honest_payoff": honest,
            }
        )
    frame = pd.DataFrame(records)
    grouped = frame.groupby(["mechanism", "attack"], sort=False)
    table = grouped.agg(
        gain=("gain", "mean"),
        gain_std=("gain", lambda s: float(np.std(s, ddof=1)) if len(s) > 1 else float("nan")),
        attack_payoff=("attack_payoff", "mean"),
        honest_payoff=("honest_payoff", "mean"),
        seeds=("gain", "size"),
    ).reset_index()
    intervals = [
        ratio_interval(rows["attack_payoff"].to_numpy(), rows["honest_payoff"].to_numpy())
        for _, rows in grouped
    ]
    table["relative_gain"] = [ratio for ratio, _, _ in intervals]
    table["relative_low"] = [low for _, low, _ in intervals]
    table["relative_high"] = [high for _, _, high in intervals]
    return table[list(COLUMNS)]


BOOTSTRAP_SAMPLES = 2000


def ratio_interval(attacked: Any, honest: Any) -> tuple[float, float, float]:
    """``mean(attacked - honest) / |mean(honest)|`` and its 95% paired-bootstrap interval
    (percentile, :data:`BOOTSTRAP_SAMPLES` resamples of the seeds, a fixed generator so the
    table is reproducible); NaN where the mean honest payoff is 0."""
    import numpy as np

    a = np.asarray(attacked, dtype=np.float64)
    h = np.asarray(honest, dtype=np.float64)

    def ratio(x: Any, y: Any) -> Any:
        scale = np.abs(y.mean(axis=-1))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(scale > 1e-9, (x - y).mean(axis=-1) / scale, np.nan)

    point = float(ratio(a, h))
    if a.size < 2 or not np.isfinite(point):
        return point, float("nan"), float("nan")
    picks = np.random.default_rng(0).integers(0, a.size, size=(BOOTSTRAP_SAMPLES, a.size))
    draws = ratio(a[picks], h[picks])
    low, high = np.nanpercentile(draws, [2.5, 97.5])
    return point, float(low), float(high)


def plot_matrix(table: pd.DataFrame, path: str | Any, *, title: str | None = None) -> None:
    """A mechanism x attack heatmap of ``relative_gain`` (diverging colours, annotated),
    written atomically as ``path`` (PNG) and the same name with ``.svg``; nothing is clipped
    (constrained layout, a wrapped title, a tight bounding box)."""
    import textwrap
    from pathlib import Path

    import matplotlib
    import numpy as np
    from matplotlib.figure import Figure

    from agents.results_io import atomic_write

    grid = table.pivot(index="mechanism", columns="attack", values="relative_gain")
    grid = grid.reindex(index=list(dict.fromkeys(table["mechanism"])))
    grid = grid[list(dict.fromkeys(table["attack"]))]
    values = grid.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    limit = max(float(np.abs(finite).max()) if finite.size else 1.0, 0.05)
    width = max(1.1 * values.shape[1] + 3.5, 7.0)
    fig = Figure(figsize=(width, 0.6 * values.shape[0] + 2.6), layout="constrained")
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="#d9d9d9")  # n/a: grey, not 0
    image = ax.imshow(values, cmap=cmap, vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(values.shape[1]), list(grid.columns), rotation=40, ha="right")
    ax.set_yticks(range(values.shape[0]), list(grid.index))
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            value = values[i, j]
            text = "n/a" if not np.isfinite(value) else f"{value:+.0%}"
            dark = np.isfinite(value) and abs(value) > 0.6 * limit
            ax.text(
                j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black"
            )
    bar = fig.colorbar(image, ax=ax)
    bar.set_label("payoff gain over\nhonest play (ratio)")
    heading = (
        title
        or "Attacker's payoff gain over playing honestly (same seed and data); red: the attack pays"
    )
    ax.set_title("\n".join(textwrap.wrap(heading, width=int(width * 9))), fontsize=10)
    target = Path(path)
    for fmt in ("png", "svg"):
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}

        def write(tmp: Path, fmt: str = fmt, metadata: Any = metadata) -> None:
            with matplotlib.rc_context({"svg.hashsalt": "fedmarket", "svg.fonttype": "none"}):
                fig.savefig(tmp, format=fmt, dpi=150, metadata=metadata, bbox_inches="tight")

        atomic_write(target.with_suffix(f".{fmt}"), write)


__all__ = [
    "ATTACKER",
    "ATTACKS",
    "COLLUDERS",
    "COLUMNS",
    "Game",
    "attack_matrix",
    "attacker_groups",
    "attacker_payoff",
    "games",
    "plot_matrix",
]
