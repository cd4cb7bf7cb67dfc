"""The layers of `runner/`, read from the code's own imports: which package may import which, the
checks tests/unit/test_layers.py makes of them, and the picture in docs/architecture.md.

    .venv/bin/python -m tests.unit.layers            # the layers, their modules and imports, in words
    .venv/bin/python -m tests.unit.layers --svg docs/images/layers.svg

Every import counts (top level, inside a function, under TYPE_CHECKING): each is a dependency a
reader has to follow.
"""

from __future__ import annotations

import argparse
import ast
import functools
import sys
from collections import defaultdict
from dataclasses import dataclass
from html import escape
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "runner"

# Lowest first. A module may import its own layer and the layers below it, never one above.
LAYERS: tuple[tuple[str, str], ...] = (
    ("errors", "the one error family; exit codes"),
    ("plumbing", "processes, atomic files, the tar guard, scrubbing, timing, paths, host id"),
    ("recipe", "reading a recipe: git, bounded reads, env, compose, versions, labels, names"),
    ("run", "one run's model: config, app, op state, lifecycle, registry, run dir, lock, read-back"),
    ("evidence", "judges of what an op left: proof, spec diff, serving"),
    ("pictures", "the browser, the camera, the card"),
    ("tiers", "a tier's pytest process and its verdict; browser tests"),
    ("maintainer", "the maintainer's code: meta, hooks, overlays, check, the repo-local gate"),
    ("record", "results.json, junit, summary, the ladder"),
    ("lint", "a recipe's files at a ref, against the rules"),
    ("swarm", "swarm mechanics every target shares: stack, convergence, reach, volumes, backup, gc"),
    ("targets", "where the swarm is: the target protocol, local, ssh"),
    ("drivers", "how ops are performed: the driver protocol, swarm, abra"),
    ("ops", "one module per op: what it does, needs, climbs, keeps"),
    ("orchestrator", "one run, start to teardown"),
    ("deps", "shared dependencies (DEPS): deployed once per target by a run of their own, leased, provisioned per run"),
    ("run_recipe_ci", "the env-var entry point"),
    ("catalogue", "many recipes, each one run as a process: the file, scheduling over targets, history, bisect"),
    ("dashboard", "pages, badges, the run view, read from run dirs"),
    ("bridge", "!testme: intake, queue, executors, reports; hosts the dashboard"),
    ("commands", "one module per `cc-ci` command"),
    ("cli", "`cc-ci`: parses, dispatches, turns errors into exit codes"),
)
RANK = {name: i for i, (name, _) in enumerate(LAYERS)}
MAX_MODULES = 20
# The one module that names higher modules, on purpose: the drivers and targets a run may choose,
# as data ("module:Class", imported only when chosen), below them so that RunConfig refuses a bad
# choice before anything is imported. Its names are checked to exist, not counted as imports.
REGISTRY = "runner.run.registry"


@dataclass(frozen=True)
class Module:
    name: str  # runner.run.config
    path: Path
    root: Path = REPO

    @property
    def layer(self) -> str:
        parts = self.name.split(".")
        return parts[1] if len(parts) > 1 else ""

    @property
    def folder(self) -> str:
        """The room it stands in: its package's folder; a module directly in runner/ (errors,
        orchestrator, cli) is a room of its own, as runner/ is the house, not a room."""
        folder = self.path.parent.relative_to(self.root)
        return str(folder) if folder != Path(PACKAGE) else str(self.path.relative_to(self.root))


def modules(root: Path = REPO) -> dict[str, Module]:
    found: dict[str, Module] = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = Module(name, path, root)
    return found


def imports(module: Module, known: dict[str, Module]) -> set[str]:
    """The modules of `runner` that `module` imports (a name imported from a package that is a
    module of its own counts as that module), or names to be imported or run by name (a registry's
    `"runner.x:Class"`, `python -m runner.x`)."""
    tree = ast.parse(module.path.read_text(), str(module.path))
    is_package = module.path.name == "__init__.py"
    here = module.name if is_package else module.name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                       for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(f"{PACKAGE}."):
            named = node.value.partition(":")[0]  # `python -m runner.x`, a registry's "runner.x:Class"
            # `python -m runner.cli …` starts the program `cc-ci` as a process of its own: not an import
            by_registry = module.name == REGISTRY and ":" in node.value
            targets = [] if named == f"{PACKAGE}.cli" or by_registry else [named]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != module.name and target != PACKAGE:
                found.add(target)
    return found


def registry_entries(root: Path = REPO) -> list[str]:
    """The "module:Class" names the registry holds."""
    path = root / (REGISTRY.replace(".", "/") + ".py")
    return [node.value for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and node.value.startswith(f"{PACKAGE}.") and ":" in node.value]


@functools.cache
def graph(root: Path = REPO) -> tuple[dict[str, Module], dict[str, set[str]]]:
    known = modules(root)
    return known, {name: imports(module, known) for name, module in known.items()}


def upward_imports(known: dict[str, Module], edges: dict[str, set[str]]) -> list[str]:
    """`a -> b` for each import from a lower layer up to a higher one (or from a layer nobody placed)."""
    wrong = []
    for name, targets in sorted(edges.items()):
        source = known[name].layer
        for target in sorted(targets):
            layer = known[target].layer
            if source not in RANK or layer not in RANK:
                wrong.append(f"{name} -> {target} (a layer not in LAYERS: {source or layer})")
            elif RANK[layer] > RANK[source]:
                wrong.append(f"{name} ({source}) -> {target} ({layer})")
    return wrong


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def package_edges(known: dict[str, Module], edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Which package of runner/ imports which (a sub-folder, e.g. bridge/executors, is part of its
    package: the order inside a package is the module graph's, checked by `cycles` over modules)."""
    packages: dict[str, set[str]] = defaultdict(set)
    for name, targets in edges.items():
        source = known[name].layer
        packages[source] |= {known[t].layer for t in targets} - {source}
    return dict(packages)


def crowded_folders(known: dict[str, Module]) -> dict[str, int]:
    count: dict[str, int] = defaultdict(int)
    for module in known.values():
        count[module.folder] += 1
    return {folder: n for folder, n in sorted(count.items()) if n > MAX_MODULES}


def layer_edges(known: dict[str, Module], edges: dict[str, set[str]]) -> dict[tuple[str, str], int]:
    """(importer layer, imported layer) -> how many module imports run so."""
    count: dict[tuple[str, str], int] = defaultdict(int)
    for name, targets in edges.items():
        for target in targets:
            pair = (known[name].layer, known[target].layer)
            if pair[0] != pair[1]:
                count[pair] += 1
    return dict(count)


def describe(root: Path = REPO) -> str:
    known, edges = graph(root)
    lines = []
    between = layer_edges(known, edges)
    for name, job in reversed(LAYERS):
        members = sorted(m.name for m in known.values() if m.layer == name)
        lines.append(f"{name}: {job}")
        lines.append(f"  {len(members)} module(s); imports " + (", ".join(
            f"{target} ({n})" for (source, target), n in sorted(between.items(), key=lambda kv: RANK[kv[0][1]])
            if source == name) or "nothing of runner"))
    return "\n".join(lines)


def svg(root: Path = REPO) -> str:
    """The layers as bands, highest on top: each with its job, its modules and lines, and the
    layers it imports (an upward import, were there one, in red)."""
    known, edges = graph(root)
    between = layer_edges(known, edges)
    width, band, gap, left = 1040, 46, 8, 60
    height = len(LAYERS) * (band + gap) + 56
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + left + 20}" height="{height}" '
           'font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<line x1="30" y1="20" x2="30" y2="{height - 46}" stroke="#4a6fa5" stroke-width="3"/>',
           f'<polygon points="22,{height - 50} 38,{height - 50} 30,{height - 36}" fill="#4a6fa5"/>',
           f'<text x="20" y="{height / 2}" transform="rotate(-90 20 {height / 2})" text-anchor="middle" '
           'fill="#4a6fa5">imports run downwards only</text>']
    for i, (name, job) in enumerate(reversed(LAYERS)):
        members = [m for m in known.values() if m.layer == name]
        lines = sum(len(m.path.read_text().splitlines()) for m in members)
        y = 20 + i * (band + gap)
        imported = sorted(((target, n) for (source, target), n in between.items() if source == name),
                          key=lambda pair: -RANK[pair[0]])
        words = [f'<tspan fill="{"#c0392b" if RANK[t] > RANK[name] else "#333"}">{escape(t)} ({n})</tspan>'
                 for t, n in imported]
        out.append(f'<rect x="{left}" y="{y}" width="{width}" height="{band}" rx="4" '
                   'fill="#dce6f2" stroke="#4a6fa5"/>')
        out.append(f'<text x="{left + 10}" y="{y + 18}"><tspan font-weight="bold">{escape(name)}</tspan>'
                   f'<tspan fill="#555">  {len(members)} module(s), {lines} lines: {escape(job)}</tspan></text>')
        out.append(f'<text x="{left + 10}" y="{y + 36}" font-size="11"><tspan fill="#555">imports </tspan>'
                   + (", ".join(words) or '<tspan fill="#555">nothing of runner</tspan>') + "</text>")
    out.append(f'<text x="{left}" y="{height - 14}" fill="#555" font-size="11">runner/, lowest layer at the '
               'bottom; (n) = module imports into that layer. Drawn from the code by '
               '`python -m tests.unit.layers --svg`</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.unit.layers", description=__doc__.splitlines()[0])
    parser.add_argument("--svg", type=Path, help="write the picture of the layers here")
    args = parser.parse_args(argv)
    if args.svg:
        args.svg.write_text(svg())
        print(f"wrote {args.svg}")
    else:
        print(describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
