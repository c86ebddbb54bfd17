"""fl_core.synthesize.sample_completions and the prompt's domain, on a tiny random Llama.

Mutations caught: the domain left out of the prompt or the system message
(test_domain_changes_prompt_and_output fails; the tiny random model's samples barely depend
on the prompt, so the model's input is checked); completions dropped or cleaned
(test_raw_prefix_and_reproducible: exactly n, a prefix of more, fails); the prefill
forgotten (test_prefill_reaches_the_model fails).
"""

from __future__ import annotations

import pytest

from fl_core.smollm2 import CausalLM, tiny_causal_lm
from fl_core.synthesize import FOOD, Domain, chat_texts, generate, prompt, sample_completions

DRUGS = Domain(
    system="You write short, realistic patients' reviews of prescription drugs.",
    item="review of a medication",
    writers="patients",
    voice="a patient",
)


@pytest.fixture(scope="module")
def lm() -> CausalLM:
    return tiny_causal_lm(0)


def test_raw_prefix_and_reproducible(lm: CausalLM) -> None:
    more = sample_completions(6, label=1, seed=3, batch_size=2, max_new_tokens=6, lm=lm)
    assert len(more) == 6 and all(isinstance(t, str) for t in more)
    fewer = sample_completions(3, label=1, seed=3, batch_size=2, max_new_tokens=6, lm=lm)
    assert fewer == more[:3]
    again = sample_completions(
        6, label=1, seed=3, batch_size=2, max_new_tokens=6, lm=lm, use_disk=False
    )
    assert again == more  # the same without the disk cache
    assert sample_completions(0, label=0, seed=3, lm=lm) == []


def test_domain_changes_prompt_and_output(lm: CausalLM) -> None:
    food = prompt(0, ["crunchy"], ("bad", "good"), FOOD)
    drugs = prompt(0, ["crunchy"], ("bad", "good"), DRUGS)
    assert "food product" in food and "medication" in drugs and "patients" in drugs
    chat = chat_texts(lm.tokenizer, [drugs], system=DRUGS.system, prefill='"')[0]
    assert DRUGS.system in chat and drugs in chat and chat.endswith('"')
    assert FOOD.system not in chat


def test_prefill_reaches_the_model(lm: CausalLM) -> None:
    message = [prompt(1)]
    plain = generate(lm, message, seed=2, max_new_tokens=6, temperature=1e-3).texts
    quoted = generate(lm, message, seed=2, max_new_tokens=6, temperature=1e-3, prefill='"').texts
    assert plain != quoted


def test_bad_arguments_name_the_field(lm: CausalLM) -> None:
    with pytest.raises(ValueError, match="^n:"):
        sample_completions(-1, label=0, seed=0, lm=lm)
    with pytest.raises(ValueError, match="^label:"):
        sample_completions(1, label=2, seed=0, lm=lm)
    with pytest.raises(ValueError, match="^shots:"):
        sample_completions(1, label=0, seed=0, shots=-1, lm=lm)
    with pytest.raises(ValueError, match="^domain.system:"):
        Domain(system=" ")
