"""fl_core.synthesize on a tiny random Llama built in memory (the real model: tests/slow).

Mutations tried: seeding the global generator once per call instead of per batch inside
``fork_rng`` (test_call_is_independent_of_global_rng fails); dropping the label from the
prompt (test_label_changes_output fails); left padding replaced by right padding
(test_batching_matches_single fails: a right-padded prompt continues after pad tokens).
"""

from __future__ import annotations

import json

import pytest
import torch

from fl_core.hub import cache_dir
from fl_core.smollm2 import CausalLM, tiny_causal_lm
from fl_core.synthesize import clean, generate, prompt, synthesize


@pytest.fixture(scope="module")
def lm() -> CausalLM:
    return tiny_causal_lm(0)


def test_distinct_and_reproducible(lm: CausalLM) -> None:
    first = synthesize(6, label=1, seed=7, lm=lm, use_disk=False)
    assert len(first) == 6 and len(set(first)) == 6 and all(first)
    assert synthesize(6, label=1, seed=7, lm=lm, use_disk=False) == first
    assert synthesize(6, label=1, seed=8, lm=lm, use_disk=False) != first


def test_label_changes_output(lm: CausalLM) -> None:
    assert prompt(0) != prompt(1)
    assert synthesize(4, label=0, seed=7, lm=lm, use_disk=False) != synthesize(
        4, label=1, seed=7, lm=lm, use_disk=False
    )


def test_call_is_independent_of_global_rng(lm: CausalLM) -> None:
    torch.manual_seed(123)
    a = synthesize(3, label=1, seed=1, lm=lm, use_disk=False)
    torch.manual_seed(999)
    b = synthesize(3, label=1, seed=1, lm=lm, use_disk=False)
    assert a == b
    # the caller's stream is untouched: fork_rng restores it
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    synthesize(2, label=0, seed=3, lm=lm, use_disk=False)
    assert torch.equal(torch.rand(3), expected)


def test_batching_matches_single(lm: CausalLM) -> None:
    """Left padding: a prompt decodes the same alone as in a batch with a longer one."""
    short = prompt(1)
    long = prompt(1, ["a much longer example review that pads the other prompt " * 3])
    alone = generate(lm, [short], seed=4, temperature=1e-3, max_new_tokens=8).texts[0]
    batched = generate(lm, [long, short], seed=4, temperature=1e-3, max_new_tokens=8).texts[1]
    assert alone == batched


def test_examples_condition_the_prompt(lm: CausalLM) -> None:
    text = prompt(1, ["tasty crackers", "stale coffee"])
    assert "tasty crackers" in text and "stale coffee" in text
    with_examples = synthesize(3, label=1, seed=2, examples=["x y z"] * 5, lm=lm, use_disk=False)
    assert with_examples != synthesize(3, label=1, seed=2, lm=lm, use_disk=False)


def test_disk_cache_roundtrip(lm: CausalLM) -> None:
    texts = synthesize(3, label=0, seed=11, lm=lm)
    files = sorted(cache_dir().glob("synthetic-*.json"))
    stored = [json.loads(f.read_text()) for f in files]
    assert any(s[:3] == texts for s in stored)
    assert synthesize(3, label=0, seed=11, lm=lm) == texts


def test_fewer_is_a_prefix_of_more(lm: CausalLM) -> None:
    more = synthesize(11, label=1, seed=5, lm=lm, use_disk=False)
    assert synthesize(4, label=1, seed=5, lm=lm, use_disk=False) == more[:4]
    assert synthesize(9, label=1, seed=5, lm=lm, use_disk=False) == more[:9]


def test_clean() -> None:
    assert clean('  "Review: Great crackers!"\nsecond line') == "Great crackers!"
    assert clean("\n\n") == ""


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n": -1, "label": 0}, "n:"),
        ({"n": 2, "label": 2}, "label:"),
        ({"n": 2, "label": 0, "batch_size": 0}, "batch_size:"),
    ],
)
def test_bad_arguments(lm: CausalLM, kwargs: dict[str, int], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}"):
        synthesize(seed=0, lm=lm, use_disk=False, **kwargs)  # type: ignore[arg-type]
