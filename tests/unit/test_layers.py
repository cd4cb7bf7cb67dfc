"""The house keeps its layers (issue 22): read from the code's own imports, no module imports a
layer above its own, no two modules or packages import each other round a loop, and no folder of
runner/ holds more than 20 modules. Each check is also shown failing on a small broken tree."""

from __future__ import annotations

from pathlib import Path

from tests.unit import layers
from tests.unit.layers import LAYERS, MAX_MODULES, Module


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_every_package_and_top_level_module_of_runner_has_its_layer() -> None:
    known, _ = layers.graph()
    unplaced = sorted({m.layer for m in known.values()} - {name for name, _ in LAYERS} - {""})
    assert not unplaced, f"packages of runner/ with no place in tests/unit/layers.py LAYERS: {unplaced}"


def test_no_module_imports_a_layer_above_its_own() -> None:
    known, edges = layers.graph()
    assert layers.upward_imports(known, edges) == []


def test_no_modules_import_each_other_round_a_loop() -> None:
    _, edges = layers.graph()
    assert layers.cycles(edges) == []


def test_no_packages_import_each_other_round_a_loop() -> None:
    known, edges = layers.graph()
    assert layers.cycles(layers.package_edges(known, edges)) == []


def test_no_folder_of_runner_holds_more_than_twenty_modules() -> None:
    known, _ = layers.graph()
    assert layers.crowded_folders(known) == {}


def test_an_import_up_a_layer_a_loop_and_a_crowded_folder_are_each_found(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "runner/__init__.py": "",
        "runner/errors.py": "",
        "runner/cli.py": "",
        "runner/plumbing/__init__.py": "",
        "runner/plumbing/proc.py": "from runner.recipe import git\n",  # up a layer
        "runner/plumbing/timing.py": "SPAWN = ['python', '-m', 'runner.recipe.bounded', 'runner.cli']\n",  # by name
        "runner/recipe/__init__.py": "",
        "runner/recipe/git.py": "from . import bounded\n",
        "runner/recipe/bounded.py": "def f():\n    from runner.recipe.git import x\n",  # a loop, lazily
        **{f"runner/run/m{i}.py": "" for i in range(MAX_MODULES)},
        "runner/run/__init__.py": "",
    })
    known, edges = layers.graph(root)
    assert layers.upward_imports(known, edges) == [
        "runner.plumbing.proc (plumbing) -> runner.recipe.git (recipe)",
        "runner.plumbing.timing (plumbing) -> runner.recipe.bounded (recipe)"]  # `runner.cli` is the program
    assert layers.cycles(edges) == [["runner.recipe.bounded", "runner.recipe.git"]]
    assert layers.cycles(layers.package_edges(known, edges)) == []
    assert layers.crowded_folders(known) == {"runner/run": MAX_MODULES + 1}


def test_a_loop_between_packages_is_found_though_no_two_modules_loop(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "runner/__init__.py": "",
        "runner/run/__init__.py": "",
        "runner/run/a.py": "from runner.recipe import b\n",
        "runner/recipe/__init__.py": "",
        "runner/recipe/b.py": "",
        "runner/recipe/c.py": "import runner.run.d\n",
        "runner/run/d.py": "",
    })
    known, edges = layers.graph(root)
    assert layers.cycles(edges) == []
    assert layers.cycles(layers.package_edges(known, edges)) == [["recipe", "run"]]


def test_a_module_directly_in_runner_is_a_room_of_its_own() -> None:
    module = Module("runner.orchestrator", layers.REPO / "runner" / "orchestrator.py")
    assert (module.layer, module.folder) == ("orchestrator", "runner/orchestrator.py")


def test_the_registry_names_modules_and_classes_that_exist() -> None:
    known, _ = layers.graph()
    entries = layers.registry_entries()
    assert entries, "runner/run/registry.py names no driver or target"
    for entry in entries:
        module, _, name = entry.partition(":")
        assert module in known, f"{entry}: no module {module}"
        assert f"class {name}" in known[module].path.read_text(), f"{entry}: {module} defines no {name}"


def test_only_the_registry_may_name_a_higher_module_to_be_loaded_by_name(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "runner/__init__.py": "",
        "runner/run/__init__.py": "",
        "runner/run/registry.py": "DRIVERS = {'x': 'runner.drivers.x:X'}\n",
        "runner/run/config.py": "DRIVERS = {'x': 'runner.drivers.x:X'}\n",
        "runner/drivers/__init__.py": "",
        "runner/drivers/x.py": "class X: ...\n",
    })
    known, edges = layers.graph(root)
    assert layers.upward_imports(known, edges) == ["runner.run.config (run) -> runner.drivers.x (drivers)"]
    assert layers.registry_entries(root) == ["runner.drivers.x:X"]
