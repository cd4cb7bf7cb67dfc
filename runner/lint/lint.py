"""`lint_recipe`: a recipe's files at one ref, read from its git repo, through every rule.

The shell here reads git (a handful of `git show` calls, no checkout, nothing written); the rules
in `rules.py` are pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from runner.errors import BadInput, InfraError
from runner.harness import bounded, git
from runner.lint.rules import RULES, Finding, RecipeFiles, compose_chain, env_values, read_recipe


def lint_recipe(checkout: Path, ref: str | None, opt_outs: Mapping[str, str]) -> list[Finding]:
    """Every finding of every rule on the recipe at `ref` (default: HEAD), in rule order.

    `opt_outs` is {rule id: reason}: those findings stay in the list, marked with the reason, and
    block nothing. An unknown rule id or an opt-out without a reason is bad input.
    """
    reasons = validate_opt_outs(opt_outs)
    recipe = read_at(checkout, ref)
    findings = []
    for rule in RULES.values():
        for file, message in rule.check(recipe):
            findings.append(Finding(rule.id, rule.level, file, message, reasons.get(rule.id)))
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
    commit = resolve_ref(checkout, ref)
    refused: dict[str, str] = {}
    files = {name: _bounded(checkout, commit, name, refused) for name in (".env.sample", "abra.sh")}
    try:
        env = env_values(files[".env.sample"])[0]
    except bounded.OverLimit:
        env = {}  # read_recipe says why
    chain, _ = compose_chain(env)
    files |= {name: _bounded(checkout, commit, name, refused) for name in chain}
    return read_recipe(ref or commit[:12], files, release_tags(checkout, commit), refused)


def _bounded(checkout: Path, commit: str, name: str, refused: dict[str, str]) -> str | None:
    """A file's text at the commit; None when absent, past its size limit or not UTF-8 text (then
    `refused` says why)."""
    try:
        return bounded.show_file(checkout, commit, name)
    except (bounded.OverLimit, bounded.NotText) as err:
        refused[name] = str(err)
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
