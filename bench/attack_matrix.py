"""The exploitability matrix of the default scenario in head mode on MiniLM.

Every attack of ``agents.attacks.ATTACKS`` against the default mechanism and
``verified_value`` (the default market otherwise: adaptive scoring, budget 100 a round),
3 rounds, seeds 0-9: the attacker's payoff gain over the same owner playing honestly on the
same seed, as a ratio of means with a 95% paired-bootstrap interval. Prints the table and
writes ``bench/results/attack_matrix.md``.

    python -m bench.attack_matrix [--rounds 3] [--seeds 0 1 ...] [--mechanisms banzhaf_cover ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench.machine import cpu_name

RESULTS = Path(__file__).with_name("results") / "attack_matrix.md"


def _markdown(frame: object) -> str:
    """A pipe table (no ``tabulate`` dependency)."""
    columns = list(frame.columns)  # type: ignore[attr-defined]
    rows = [" | ".join(columns), " | ".join("---" for _ in columns)]
    rows += [" | ".join(str(v) for v in row) for row in frame.itertuples(index=False)]  # type: ignore[attr-defined]
    return "\n".join(f"| {row} |" for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(20)))
    parser.add_argument("--mechanisms", nargs="+", default=["pooled_value", "banzhaf_cover"])
    parser.add_argument("--attacks", nargs="+", default=None)
    parser.add_argument(
        "--utility-subset", type=int, default=None, help="validation examples per coalition"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    from agents import Scenario
    from agents.attacks import attack_matrix

    base = Scenario(name="default_head", rounds=args.rounds).replace("model.mode", "head")
    if args.utility_subset is not None:
        base = base.replace("data.utility_subset", args.utility_subset)
    started = time.perf_counter()
    table = attack_matrix(
        base,
        mechanisms=args.mechanisms,
        attacks=args.attacks,
        seeds=args.seeds,
        progress=lambda done, total, label: print(
            f"  [{done}/{total}] {label}", file=sys.stderr, flush=True
        ),
    )
    seconds = time.perf_counter() - started
    shown = table.copy()
    for column in ("gain", "gain_std", "attack_payoff", "honest_payoff"):
        shown[column] = shown[column].map(lambda v: f"{v:+.2f}")
    for column in ("relative_gain", "relative_low", "relative_high"):
        shown[column] = shown[column].map(lambda v: f"{v:+.1%}")
    header = (
        f"Attack matrix: default scenario (6 honest owners of 300 reviews, cost 5, budget 100 "
        f"a round), head mode on MiniLM, {args.rounds} rounds, seeds {args.seeds}; one attacker "
        f"owner (3 for collude) appended. gain = attacker payoff (reward - cost, summed over "
        f"its identities) minus the same owner's payoff playing honestly on the same seed; "
        f"relative = mean gain / |mean honest payoff| (a ratio of means) with its 95% "
        f"paired-bootstrap interval over seeds; {base.data.utility_subset} validation "
        f"examples score each coalition. "
        f"CPU: {cpu_name()}; {seconds:.0f} s."
    )
    print(header)
    print(shown.to_string(index=False))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        "# Attack matrix (written by `python -m bench.attack_matrix`)\n\n"
        + header
        + "\n\n"
        + _markdown(shown)
        + "\n"
    )


if __name__ == "__main__":
    main()
