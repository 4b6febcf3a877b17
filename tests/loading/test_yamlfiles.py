"""The YAML reader: YAML 1.2 core values, refusals of hostile input, positions."""

from __future__ import annotations

import time

import pytest

from reconciler.loading import yamlfiles


def load(text: str) -> object:
    root = yamlfiles.compose(text)
    return yamlfiles.construct(root) if root is not None else None


def error_of(text: str) -> yamlfiles.YamlError:
    with pytest.raises(yamlfiles.YamlError) as caught:
        load(text)
    return caught.value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("a: 900", {"a": 900}, id="integer"),
        pytest.param("a: '900'", {"a": "900"}, id="quoted-number-is-string"),
        pytest.param("a: 1.5", {"a": 1.5}, id="float"),
        pytest.param("a: yes", {"a": "yes"}, id="yes-is-a-string-in-yaml-1.2"),
        pytest.param("a: true", {"a": True}, id="true"),
        pytest.param("a: ~", {"a": None}, id="tilde-null"),
        pytest.param("a:", {"a": None}, id="empty-null"),
        pytest.param("a: 0x1F", {"a": 31}, id="hex"),
        pytest.param("a: 0o17", {"a": 15}, id="octal"),
        pytest.param("a: 012", {"a": 12}, id="leading-zero-is-decimal"),
        pytest.param("a: !!str 900", {"a": "900"}, id="explicit-str-tag"),
        pytest.param("a: [1, x]", {"a": [1, "x"]}, id="flow-list"),
        pytest.param("a: 2026-01-01", {"a": "2026-01-01"}, id="dates-stay-strings"),
    ],
)
def test_reads_yaml_1_2_core_schema_values(text: str, expected: object) -> None:
    assert load(text) == expected


def test_empty_and_comment_only_files_are_none() -> None:
    assert load("") is None
    assert load("# nothing here\n\n") is None


def test_refuses_duplicate_keys_at_the_second_key() -> None:
    error = error_of("a: 1\nb: 2\na: 3\n")
    assert (error.line, error.column, error.code) == (3, 1, "yaml-duplicate-key")


def test_refuses_tab_indentation_with_a_plain_message() -> None:
    error = error_of("gateways:\n\t- id: x\n")
    assert (error.line, error.column) == (2, 1)
    assert "tab" in error.message


def test_refuses_aliases_where_they_are_used() -> None:
    error = error_of("a: &x [1]\nb: *x\n")
    assert (error.line, error.code) == (1, "yaml-alias")


def test_refuses_a_billion_laughs_document_quickly() -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 10):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 9)}]")
    started = time.perf_counter()
    error = error_of("\n".join(lines))
    assert error.code == "yaml-alias"
    assert time.perf_counter() - started < 1.0


def test_refuses_unknown_tags() -> None:
    error = error_of("a: !!python/object:os.system echo\n")
    assert error.code == "yaml-tag"


def test_refuses_several_documents() -> None:
    error = error_of("a: 1\n---\nb: 2\n")
    assert error.line == 2
    assert "single document" in error.message


def test_refuses_deep_nesting_without_recursion_error() -> None:
    error = error_of("[" * 5000 + "]" * 5000)
    assert "nesting" in error.message or "deeper" in error.message


def test_syntax_errors_carry_line_and_column() -> None:
    error = error_of("a: [1, 2\nb: 3\n")
    assert error.line >= 2


def test_decode_locates_the_first_invalid_byte() -> None:
    with pytest.raises(yamlfiles.YamlError) as caught:
        yamlfiles.decode(b"a: 1\nb: \xff\n")
    assert (caught.value.line, caught.value.column, caught.value.code) == (2, 4, "encoding")


def test_decode_refuses_files_over_the_size_cap() -> None:
    with pytest.raises(yamlfiles.YamlError) as caught:
        yamlfiles.decode(b"#" * (yamlfiles.MAX_FILE_BYTES + 1))
    assert caught.value.code == "file-too-large"


def test_decode_drops_a_byte_order_mark() -> None:
    assert yamlfiles.decode("\ufeffa: 1".encode()) == "a: 1"


def test_locate_points_at_values_keys_and_list_items() -> None:
    root = yamlfiles.compose("gateways:\n  - id: A\n    type: LSX\n  - id: B\n    type: LSG\n")
    assert yamlfiles.locate(root, ["gateways", 1, "type"]) == (5, 11)
    assert yamlfiles.locate(root, ["gateways", 1, "type"], at_key=True) == (5, 5)
    assert yamlfiles.locate(root, ["gateways", 0]) == (2, 5)


def test_locate_falls_back_to_the_nearest_existing_parent() -> None:
    root = yamlfiles.compose("gateways:\n  - id: A\n")
    assert yamlfiles.locate(root, ["gateways", 0, "subsettings", "x"]) == (2, 5)
