"""Every assertion of the generic floor fails in words (issue 24): a sentence naming what was
expected and what was found, with pytest's introspection below it, never instead of it. The
sentences themselves are shown, one test per assertion, in the other files of this folder."""

from __future__ import annotations

import ast

from runner.plumbing.paths import TESTS_DIR


def bare_asserts(source: str) -> list[str]:
    """`line: assert <test>` of each assert statement without a message."""
    return [f"{node.lineno}: assert {ast.unparse(node.test)}" for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Assert) and node.msg is None]


def test_every_generic_floor_assertion_carries_a_sentence() -> None:
    files = sorted((TESTS_DIR / "_generic").glob("test_*.py"))
    assert files, "no floor files found"
    bare = [f"tests/_generic/{path.name}:{found}" for path in files for found in bare_asserts(path.read_text())]
    assert bare == [], ("a floor assertion without a message fails as pytest's introspection alone "
                        "(`assert None == 'unknown'`); give it a sentence: " + "; ".join(bare))


def test_a_bare_assert_is_found() -> None:
    assert bare_asserts("def test_x(a):\n    assert a == 1, 'a is not 1'\n    assert a\n") == ["3: assert a"]
