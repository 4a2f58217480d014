"""document_exceptions/echo.py: input quoted back in errors is cut short."""

from __future__ import annotations

from typing import Any

from document_exceptions.echo import ECHO_CHARS, echo, echo_name


def test_a_long_string_is_cut_and_says_how_long_it_was() -> None:
    text = echo("x" * 1_000_000)
    assert text.startswith("'xxx")
    assert text.endswith("… (1,000,000 characters)")
    assert len(text) < ECHO_CHARS + 30


def test_short_values_are_their_repr() -> None:
    assert echo("abc") == "'abc'"
    assert echo(None) == "None"
    assert echo({"a": [1, 2]}) == "{'a': [1, 2]}"


def test_large_and_deep_containers_are_quoted_without_walking_them() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    assert echo(deep) == "[[[[...]]]]"
    assert len(echo(list(range(1_000_000)))) <= ECHO_CHARS


def test_a_broken_repr_does_not_escape() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert echo(Broken()).startswith("<Broken")


def test_names_are_cut_and_what_does_not_print_is_escaped() -> None:
    assert echo_name("user_id") == "user_id"
    assert echo_name("y" * 1_000_000) == "y" * (ECHO_CHARS - 1) + "…"
    assert echo_name("a\ud800\x1b[2J") == "a\\ud800\\x1b[2J"
    assert echo_name(3) == "3"
