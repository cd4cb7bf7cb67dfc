"""What pyflakes finds in a maintainer's Python file, told at their own path and line, before
anything is deployed. An undefined name is an error: the code that uses it raises NameError when
it runs (a test body fails only once the app is deployed). The rest (an unused import, a variable
assigned and never used, ...) is a warning: the file works as written. Pure: fed the source."""

from __future__ import annotations

import ast

from pyflakes import checker, messages

from runner.maintainer.problems import Problem

# names the file uses that nothing defines: NameError (or UnboundLocalError) when that line runs
_UNDEFINED = (messages.UndefinedName, messages.UndefinedLocal, messages.UndefinedExport)


def flakes(source: str, shown: str) -> tuple[list[Problem], list[str]]:
    """(errors, warnings) pyflakes finds in `source`, the file the maintainer knows as `shown`.
    A file that does not parse yields nothing here: compiling it says why."""
    try:
        tree = ast.parse(source, filename=shown)
    except (SyntaxError, ValueError):
        return [], []
    lines = source.splitlines()
    errors, warnings = [], []
    for found in sorted(checker.Checker(tree, filename=shown).messages, key=lambda m: (m.lineno, m.col)):
        said = found.message % found.message_args
        if isinstance(found, _UNDEFINED):
            text = lines[found.lineno - 1] if 0 < found.lineno <= len(lines) else ""
            errors.append(Problem(shown, f"{said} (pyflakes): it raises NameError when this line runs; "
                                         "define or import it, or fix the spelling",
                                  found.lineno, found.col + 1, text))
        else:
            warnings.append(f"{shown}:{found.lineno}: {said} (pyflakes)")
    return errors, warnings
