"""Data commitments: keyed tags that catch the same examples registered twice."""

from __future__ import annotations

import pytest

from privacy.commitments import KEY_BYTES, DataRegistry, commit, new_registration_key


def test_tags_match_on_normalised_text_and_depend_on_the_key() -> None:
    key = new_registration_key()
    assert commit(["Great  Coffee"], key) == commit(["great coffee"], key)
    assert commit(["great coffee"], key) != commit(["great tea"], key)
    assert commit(["great coffee"], key) != commit(["great coffee"], new_registration_key())
    with pytest.raises(ValueError, match="key"):
        commit(["x"], b"short")
    assert len(new_registration_key()) == KEY_BYTES


def test_the_registry_refuses_mostly_registered_data_and_names_the_first() -> None:
    registry = DataRegistry(max_overlap=0.5)
    assert registry.register(0, ["a", "b", "c", "d"]) == (True, 0.0, None)
    assert registry.register(1, ["e", "f", "g", "a"]) == (True, 0.25, 0)  # some overlap
    admitted, share, earlier = registry.register(2, ["A", "b ", "c", "x"])
    assert (admitted, share, earlier) == (False, 0.75, 0)
    # a refused identity's tags are not registered: a later honest owner of "x" is admitted
    assert registry.register(3, ["x", "y"])[0]


def test_max_overlap_one_admits_everyone() -> None:
    registry = DataRegistry(max_overlap=1.0)
    registry.register(0, ["a"])
    assert registry.register(1, ["a"])[0]
    with pytest.raises(ValueError, match="max_overlap"):
        DataRegistry(max_overlap=0.0)


def test_punctuation_and_unicode_forms_do_not_evade_the_tags() -> None:
    """Review finding: a trailing '.' or another Unicode form gave overlap 0."""
    key = new_registration_key()
    assert commit(["Café, great!"], key) == commit(["cafe\u0301 great."], key)
    assert commit(["Great coffee."], key) == commit(["great   COFFEE"], key)
    assert commit(["ﬁne coffee"], key) == commit(["fine coffee"], key)  # NFKC ligature
