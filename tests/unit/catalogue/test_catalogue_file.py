"""The catalogue file: defaults filled in, and every mistake refused with one line naming its entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.catalogue.file import DEFAULT_STALE_DAYS, MAX_BYTES, load
from runner.cli import main
from runner.errors import EXIT_BAD_INPUT, BadInput
from runner.ops import LIFECYCLE


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalogue.yml"
    path.write_text(text)
    return path


def test_defaults_fill_every_recipe_and_a_local_path_is_the_files_own(tmp_path: Path) -> None:
    catalogue = load(write(tmp_path, """
stages: install,upgrade
recipes:
  - name: custom-html-tiny
  - name: my-recipe
    repo: ../repos/my-recipe
    ref: main
    stages: install
  - name: other
    repo: https://git.example.org/coop-cloud/other.git
"""))
    tiny, mine, other = catalogue.recipes
    assert (tiny.name, tiny.repo, tiny.ref, tiny.stages) == ("custom-html-tiny", None, None, "install,upgrade")
    assert (mine.repo, mine.ref, mine.stages) == (str((tmp_path.parent / "repos" / "my-recipe").resolve()), "main", "install")
    assert other.repo == "https://git.example.org/coop-cloud/other.git"
    assert [(t.target, t.limit) for t in catalogue.targets] == [("local", None)]
    assert catalogue.stale_after_s == DEFAULT_STALE_DAYS * 86400


def test_targets_take_a_limit_and_an_age_limit_is_read(tmp_path: Path) -> None:
    catalogue = load(write(tmp_path, """
targets: [local, {target: "ssh://ci@swarm-2.example.org", limit: 3}]
stale_after_days: 2
recipes: [{name: a}]
"""))
    assert [(t.target, t.limit) for t in catalogue.targets] == [("local", None), ("ssh://ci@swarm-2.example.org", 3)]
    assert catalogue.stale_after_s == 2 * 86400
    assert catalogue.recipes[0].stages == ",".join(LIFECYCLE.default_stages)  # what `cc-ci run` performs


@pytest.mark.parametrize(("text", "says"), [
    ("recipes: [{name: a}, {name: b, stages: 'install,fly'}]", "recipes[1] (b): stages: 'install,fly': unknown stage fly"),
    ("recipes: [{name: a, colour: red}]", "recipes[0] (a): colour: Extra inputs are not permitted"),
    ("recipes: [{name: a}, {name: My_Recipe}]", "recipes[1] (My_Recipe): name: 'My_Recipe' is not a recipe name"),
    ("recipes: [{name: a, repo: 'https://git.example.org/x/b.git'}]", "recipes[0] (a): repo 'https://git.example.org/x/b.git' does not end in /a"),
    ("recipes: [{name: a}, {name: a}]", "recipe 'a' is listed twice"),
    ("recipes: []", "recipes: List should have at least 1 item"),
    ("stages: all\nrecipes: [{name: a}]", "stages: 'all': unknown stage all"),
    ("targets: [nowhere]\nrecipes: [{name: a}]", "targets.0.target: 'nowhere' is neither `local` nor ssh://"),
    ("targets: [local, local]\nrecipes: [{name: a}]", "targets: 'local' is listed twice"),
    ("targets: [{target: local, limit: 0}]\nrecipes: [{name: a}]", "targets.0.limit: Input should be greater than or equal to 1"),
    ("- just\n- a list", "a catalogue is a mapping with `recipes:`"),
    ("recipes: [{name: a}\n", "does not parse"),
])
def test_an_invalid_file_is_refused_naming_the_entry(tmp_path: Path, text: str, says: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(BadInput) as err:
        load(path)
    assert str(err.value).startswith(f"{path}: ")
    assert says in str(err.value)
    assert "\n" not in str(err.value)


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "recipes:\n" + "  - name: a\n" * (MAX_BYTES // 10))
    with pytest.raises(BadInput, match="past cc-ci's limit"):
        load(path)


def test_cli_exits_2_with_one_line_naming_the_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "recipes: [{name: a}, {name: b, ref: ''}]")
    code = main(["catalogue", "run", str(path), "--history", str(tmp_path / "h.sqlite")])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_BAD_INPUT
    assert err.splitlines() == [err]
    assert err.startswith(f"cc-ci: error: {path}: recipes[1] (b): ref: ")
