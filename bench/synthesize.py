"""Generation speed of SmolLM2-135M-Instruct (fl_core.synthesize) on this CPU.

Run: ``python -m bench.synthesize [--new-tokens 48]`` (about 2 minutes on 2 shared cores
once the float32 conversion is cached; the first run also converts the GGUF, about 1 min).

Prints, side by side in one run, new tokens per second for batch 1 and batch 8 on one torch
thread, and batch 8 on two threads, then the seconds per synthetic review of a
``synthesize(n=8, ...)`` call (no disk cache). Sampling: temperature 0.9, top-p 0.95.
"""

from __future__ import annotations

import argparse
import os
import time

from bench.machine import cpu_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=48)
    args = parser.parse_args()
    from fl_core.smollm2 import load_smollm2
    from fl_core.synthesize import generate, prompt, synthesize

    started = time.perf_counter()
    lm = load_smollm2()
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores")
    print(
        f"load (float32 from the cache, converted from GGUF if absent): "
        f"{time.perf_counter() - started:.1f} s"
    )
    print(f"{'batch':>5} {'threads':>7} {'new tokens':>10} {'seconds':>8} {'tokens/s':>8}")
    for batch, threads in ((1, 1), (8, 1), (8, 2)):
        messages = [prompt(i % 2) for i in range(batch)]
        started = time.perf_counter()
        out = generate(lm, messages, seed=1, max_new_tokens=args.new_tokens, threads=threads)
        seconds = time.perf_counter() - started
        print(
            f"{batch:>5} {threads:>7} {out.new_tokens:>10} {seconds:>8.1f} "
            f"{out.new_tokens / seconds:>8.1f}"
        )
    started = time.perf_counter()
    texts = synthesize(8, label=1, seed=3, use_disk=False, max_new_tokens=args.new_tokens)
    seconds = time.perf_counter() - started
    print(f"synthesize(n=8, batch_size=8): {seconds:.1f} s, {seconds / len(texts):.2f} s/review")
    print(f"e.g. {texts[0]!r}")


if __name__ == "__main__":
    main()
