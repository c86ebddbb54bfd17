"""A torch bench's ``--threads`` option and the lines its report opens and closes with."""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch


def parse_with_threads(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse the command line with ``--threads N`` added (torch's intra-op threads; 0 keeps
    torch's default), and set torch's threads to it."""
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    return args


def opening_line(load: float) -> str:
    """``torch <version>, <n> threads, <machine>; load average at start <load>.``"""
    return (
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{platform.machine()}; load average at start {load:.1f}."
    )


def closing_line(started: float) -> str:
    """``Total <s> s; load average at end <load>.`` (``started``: a ``perf_counter`` time)."""
    return (
        f"Total {time.perf_counter() - started:.0f} s; load average at end "
        f"{os.getloadavg()[0]:.1f}."
    )
