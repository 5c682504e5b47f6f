"""Password rules (8-64 chars, digit, upper, lower, special) and salted scrypt hashes."""

from __future__ import annotations

import pytest

from onprem.emulator.passwords import hash_password, password_problems, verify_password


def test_a_password_meeting_every_rule_is_accepted() -> None:
    assert password_problems("Abcdef1!") == []
    assert password_problems("x" * 60 + "A1b~") == []


@pytest.mark.parametrize(
    ("password", "missing"),
    [
        ("Ab1!", "8-64 characters"),
        ("A1!" + "b" * 62, "8-64 characters"),
        ("Abcdefg!", "digit"),
        ("abcdef1!", "upper-case"),
        ("ABCDEF1!", "lower-case"),
        ("Abcdefg1", "one of"),
    ],
)
def test_each_rule_is_reported_when_broken(password: str, missing: str) -> None:
    assert any(missing in problem for problem in password_problems(password))


def test_hashes_are_salted_and_verify_only_the_right_password() -> None:
    first, second = hash_password("Str0ng!pass"), hash_password("Str0ng!pass")
    assert first != second
    assert "Str0ng!pass" not in first
    assert verify_password("Str0ng!pass", first)
    assert not verify_password("Str0ng!pasS", first)


@pytest.mark.parametrize(
    "encoded", ["", "plain", "md5$1$2$3$4$5", "scrypt$x$8$1$AAAA$AAAA", "scrypt$16384$8$1$!!$!!"]
)
def test_malformed_hashes_never_verify(encoded: str) -> None:
    assert not verify_password("anything", encoded)
