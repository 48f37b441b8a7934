"""Properties of the plan format and the model over generated plans."""

from __future__ import annotations

from hypothesis import given

from effects import Tree, decode, encode, project

from .strategies import plans


@given(plans())
def test_decode_inverts_encode(plan: object) -> None:
    assert decode(encode(plan)).unwrap() == plan  # type: ignore[arg-type]


@given(plans())
def test_the_encoding_is_stable(plan: object) -> None:
    first = encode(plan)  # type: ignore[arg-type]
    again = decode(first).unwrap()
    assert encode(again) == first
    assert encode(plan) == first  # type: ignore[arg-type]


@given(plans())
def test_a_decoded_copy_projects_like_the_original(plan: object) -> None:
    copy = decode(encode(plan)).unwrap()  # type: ignore[arg-type]
    assert project(copy, Tree()) == project(plan, Tree())  # type: ignore[arg-type]
