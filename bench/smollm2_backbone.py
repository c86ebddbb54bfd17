"""SmolLM2-135M as the fine-tuning backbone against MiniLM, on this CPU, side by side.

Run: ``python -m bench.smollm2_backbone [--texts 96] [--max-length 64]`` (a few minutes on
2 shared cores; SmolLM2's float32 conversion must be cached, see ``fl_core.smollm2``).

Prints, measured in one run on the same review texts:

1. frozen-encoder throughput (head mode's one-off embedding cost), tokens/s of MiniLM and
   SmolLM2 and their ratio;
2. head-mode accuracy of a linear head on frozen SmolLM2 embeddings with mean pooling
   (fedmarket's choice) and last-token pooling, and on MiniLM's (same train/test texts);
3. a shortened LoRA round (a warm-up client, then 3 clients x one local step of ``batch``
   examples, the median counted; r=8 on query+value of the top 2 blocks): seconds to cache
   the frozen prefix per example, seconds per local step, seconds to evaluate one vector per
   validation example, for both backbones, and the cost of one default-sized round (6
   clients x 300 examples, one epoch, batch 16) extrapolated from them.
"""

from __future__ import annotations

import argparse
import os
import time

from bench.machine import cpu_name


def _embed(model, tokens, idx, batch: int = 32):  # type: ignore[no-untyped-def]
    """Final normed hidden states' mean and last-token pools (one forward per batch)."""
    import torch

    from fl_core.causal import CausalClassifier, last_token_pool
    from fl_core.model import mean_pool

    means, lasts = [], []
    with torch.inference_mode():
        for start in range(0, len(idx), batch):
            rows = torch.as_tensor(idx[start : start + batch])
            width = int(tokens.attention_mask[rows].sum(1).max())
            ids = tokens.input_ids[rows, :width]
            mask = tokens.attention_mask[rows, :width]
            hidden = model.encode_prefix(ids, mask)  # head mode: every layer is prefix
            if isinstance(model, CausalClassifier):
                hidden = model.bert.norm(hidden)
                lasts.append(last_token_pool(hidden, mask))
            means.append(mean_pool(hidden, mask))
    return torch.cat(means), (torch.cat(lasts) if lasts else None)


def _head_accuracy(x_train, y_train, x_test, y_test) -> float:  # type: ignore[no-untyped-def]
    """Accuracy of a logistic-regression head (L-BFGS, light L2) on standardised features."""
    import torch

    mu, sd = x_train.mean(0), x_train.std(0).clamp(min=1e-6)
    a, b = (x_train - mu) / sd, (x_test - mu) / sd
    torch.manual_seed(0)
    head = torch.nn.Linear(a.shape[1], 2)
    opt = torch.optim.LBFGS(head.parameters(), max_iter=200)
    target = torch.as_tensor(y_train)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (
            torch.nn.functional.cross_entropy(head(a), target) + 1e-2 * head.weight.square().sum()
        )
        loss.backward()  # type: ignore[no-untyped-call]  # torch's stub
        return loss

    opt.step(closure)  # type: ignore[no-untyped-call]  # torch's stub
    with torch.no_grad():
        return float((head(b).argmax(1) == torch.as_tensor(y_test)).double().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=96, help="train and test texts each")
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16, help="examples per local step")
    parser.add_argument("--part", choices=("all", "embed", "lora"), default="all")
    args = parser.parse_args()
    import torch

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"CPU: {cpu_name()}, {os.cpu_count()} cores; torch threads {torch.get_num_threads()}; "
        f"load average {load}"
    )
    if args.part in ("all", "embed"):
        _embedding_part(args)
    if args.part in ("all", "lora"):
        _lora_part(args)


def _embedding_part(args: argparse.Namespace) -> None:
    import numpy as np

    from fl_core import DataConfig, FederatedTask, ModelConfig, TrainConfig
    from fl_core.features import tokenize

    print(f"texts {args.texts} train + {args.texts} test, max_length {args.max_length}")
    data = DataConfig(val_size=max(20, args.texts), max_length=args.max_length)
    embeddings = {}
    print(f"\n{'frozen encoder':<16} {'tokens':>7} {'seconds':>8} {'tokens/s':>9}")
    for backbone in ("minilm", "smollm2"):
        task_rng = np.random.default_rng(0)
        task = FederatedTask(
            data, ModelConfig(backbone=backbone, mode="head"), TrainConfig(), rng=task_rng
        )
        model = task.model
        train, test = task.splits.train, task.splits.test
        pick = np.random.default_rng(1)
        i_train = pick.choice(len(train), args.texts, replace=False)
        i_test = pick.choice(len(test), args.texts, replace=False)
        t_train = tokenize(train, args.max_length, backbone=backbone)
        t_test = tokenize(test, args.max_length, backbone=backbone)
        started = time.perf_counter()
        train_pools = _embed(model, t_train, i_train)
        test_pools = _embed(model, t_test, i_test)
        seconds = time.perf_counter() - started
        n_tokens = int(t_train.attention_mask[i_train].sum() + t_test.attention_mask[i_test].sum())
        print(f"{backbone:<16} {n_tokens:>7} {seconds:>8.1f} {n_tokens / seconds:>9.0f}")
        embeddings[backbone] = (train_pools, test_pools, train.labels[i_train], test.labels[i_test])
        embeddings[backbone + "_speed"] = n_tokens / seconds  # type: ignore[assignment]
        del model, task
    ratio = embeddings["minilm_speed"] / embeddings["smollm2_speed"]  # type: ignore[operator]
    print(f"SmolLM2 embeds {ratio:.1f}x slower than MiniLM per token")

    print(f"\n{'head on frozen':<22} {'test accuracy':>13}")
    for name, backbone, which in (
        ("MiniLM mean", "minilm", 0),
        ("SmolLM2 mean (ours)", "smollm2", 0),
        ("SmolLM2 last token", "smollm2", 1),
    ):
        tr, te, y_tr, y_te = embeddings[backbone]
        acc = _head_accuracy(tr[which], y_tr, te[which], y_te)
        print(f"{name:<22} {acc:>13.3f}")
    print(f"{'majority class':<22} {max(np.mean(y_te), 1 - np.mean(y_te)):>13.3f}")


def _lora_part(args: argparse.Namespace) -> None:
    import numpy as np

    from fl_core import DataConfig, FederatedTask, ModelConfig, TrainConfig

    print(
        f"\nLoRA round, shortened: 1 warm-up + 3 clients x 1 step of {args.batch} examples (r=8, "
        f"query+value, top 2 blocks)"
    )
    header = f"{'backbone':<9} {'prefix s/example':>16} {'s/local step':>12} {'eval s/example':>14}"
    print(header + f" {'default round s':>15}")
    for backbone in ("minilm", "smollm2"):
        cfg = ModelConfig(backbone=backbone, mode="lora", adapted_layers=2)
        train_cfg = TrainConfig(batch_size=args.batch, local_epochs=1.0, min_samples=1)
        task = FederatedTask(
            DataConfig(val_size=20, max_length=args.max_length),
            cfg,
            train_cfg,
            rng=np.random.default_rng(0),
        )
        shards = [np.arange(k * args.batch, (k + 1) * args.batch) for k in range(4)]
        started = time.perf_counter()
        task.features["train"].ensure(np.concatenate(shards))
        task.features["val"].ensure(np.arange(20))
        prefix = (time.perf_counter() - started) / (4 * args.batch + 20)
        step_seconds = []
        for shard in shards:  # the first one warms up (peft, autograd, allocator): not counted
            result = task.train_client(
                task.initial_vector,
                shard,
                task.train_labels[shard],
                samples_per_second=1e6,
                rng=np.random.default_rng(0),
            )
            step_seconds.append(result.compute_seconds)
        step = float(np.median(step_seconds[1:]))
        started = time.perf_counter()
        task.evaluate(task.initial_vector + result.delta, "val")
        per_eval = (time.perf_counter() - started) / 20
        # one default round: 6 clients x ceil(300/16) steps, new shard prefixes cached once,
        # and the global vector evaluated on val (500) and test (1000)
        round_s = 6 * int(np.ceil(300 / 16)) * step * 16 / args.batch + 1500 * per_eval
        print(
            f"{backbone:<9} {prefix:>16.3f} {step:>12.2f} {per_eval:>14.4f} {round_s:>15.0f}"
            f"   + {3300 * prefix:.0f} s once (prefix of 6x300 train, 500 val, 1000 test)"
        )
        del task


if __name__ == "__main__":
    main()
