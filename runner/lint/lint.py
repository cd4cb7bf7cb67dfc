"""`lint_recipe`: a recipe's files at one ref, read from its git repo, through every rule.

The shell here reads git (a handful of `git show` calls, no checkout, nothing written); the rules
in `rules.py` are pure.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from runner.errors import BadInput, InfraError
from runner.lint.rules import RULES, Finding, RecipeFiles, compose_chain, env_values, read_recipe
from runner.recipe import bounded, git, naming, versions
from runner.recipe.compose import host_file_refusals, interpolation_env


def lint_recipe(checkout: Path, ref: str | None, opt_outs: Mapping[str, str]) -> list[Finding]:
    """Every finding of every rule on the recipe at `ref` (default: HEAD), in rule order.

    `opt_outs` is {rule id: reason}: those findings stay in the list, marked with the reason, and
    block nothing. An unknown rule id or an opt-out without a reason is bad input.
    """
    reasons = validate_opt_outs(opt_outs)
    recipe = read_at(checkout, ref)
    findings = []
    for rule in RULES.values():
        for found in rule.check(recipe):
            level = found[2] if len(found) == 3 else rule.level
            findings.append(Finding(rule.id, level, found[0], found[1], reasons.get(rule.id)))
    return findings


def validate_opt_outs(opt_outs: Mapping[str, str]) -> dict[str, str]:
    reasons = {}
    for rule_id, reason in opt_outs.items():
        if rule_id not in RULES:
            raise BadInput(f"lint opt-out {rule_id!r} is not a lint rule; the rules are {', '.join(RULES)}")
        if not isinstance(reason, str) or not reason.strip():
            raise BadInput(f"lint opt-out {rule_id} has no reason; say why the recipe cannot follow it")
        reasons[rule_id] = " ".join(reason.split())
    return reasons


def resolve_ref(checkout: Path, ref: str | None) -> str:
    """The commit `ref` names in the recipe repo (a clone's branches count as `origin/<ref>` too)."""
    wanted = ref or "HEAD"
    for candidate in (wanted, f"origin/{wanted}"):
        try:
            return git.rev_parse(checkout, candidate)
        except InfraError:
            continue
    raise BadInput(f"ref {wanted!r} is not a commit, branch or tag of the recipe repo {checkout}")


def read_at(checkout: Path, ref: str | None) -> RecipeFiles:
    """The recipe at `ref`, with the newest release before it (the rules that compare releases)."""
    commit = resolve_ref(checkout, ref)
    recipe = _read_commit(checkout, commit, ref)
    previous = previous_release(checkout, commit)
    if previous is not None:
        recipe.previous = _read_commit(checkout, git.rev_parse(checkout, previous), previous, host_files=False)
        changed = git.git(checkout, "diff", "--name-only", "--no-renames", "--diff-filter=AM", previous, commit,
                          "--", "release/").splitlines()
        recipe.notes = {name: text for name in changed
                        if (text := _bounded(checkout, commit, name, {}, {})) is not None}
    return recipe


def previous_release(checkout: Path, commit: str) -> str | None:
    """The newest release tag on an ancestor of `commit` that is older than `commit`'s own release
    (when it is one): what an operator upgrades from."""
    head_tags = git.tags_at(checkout, commit)
    head = versions.latest_release(head_tags)
    return versions.previous_release(git.release_tags_before(checkout, commit), head)


def _read_commit(checkout: Path, commit: str, ref: str | None, host_files: bool = True) -> RecipeFiles:
    refused: dict[str, str] = {}
    outside: dict[str, str] = {}
    files = {name: _bounded(checkout, commit, name, refused, outside) for name in (".env.sample", "abra.sh")}
    try:
        env = env_values(files[".env.sample"])[0]
    except bounded.OverLimit:
        env = {}  # read_recipe says why
    chain, _ = compose_chain(env)
    files |= {name: _bounded(checkout, commit, name, refused, outside) for name in chain}
    recipe = read_recipe(ref or commit[:12], files, release_tags(checkout, commit), refused, outside)
    if host_files and recipe.whole_chain:  # the files a deploy would read on the harness host, as a run checks them
        environ = interpolation_env(env, recipe.abra_sh or "", naming.stack_name(env.get("DOMAIN", "")))
        environ |= {k: v for k, v in os.environ.items() if k.startswith("DOCKER_")}
        recipe.host_files = [(err.file, str(err)) for err in host_file_refusals(
            recipe.parsed, chain[0], environ, bounded.tree(checkout, commit), lambda name: name)]
    return recipe


def _bounded(checkout: Path, commit: str, name: str, refused: dict[str, str], outside: dict[str, str]) -> str | None:
    """A file's text at the commit; None when absent, past its size limit or not UTF-8 text (then
    `refused` says why), or not a regular file inside the recipe (then `outside` does)."""
    try:
        return bounded.show_file(checkout, commit, name)
    except (bounded.OverLimit, bounded.NotText) as err:
        refused[name] = str(err)
    except bounded.OutsideRecipe as err:
        outside[name] = str(err)
    return None


def release_tags(checkout: Path, commit: str) -> dict[str, bool]:
    """Every tag on `commit` or its ancestors -> whether it is annotated (a tag object)."""
    out = git.git(checkout, "for-each-ref", "--merged", commit, "--format=%(objecttype) %(refname:strip=2)",
                  "refs/tags")
    tags = {}
    for line in out.splitlines():
        kind, _, name = line.partition(" ")
        if name:
            tags[name] = kind == "tag"
    return tags
