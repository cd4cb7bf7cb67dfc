"""`cc-ci render`: the compose a run would deploy, like `helm template`: the recipe's COMPOSE_FILE
chain at the ref, interpolated with the app env (its `.env.sample` with the run's domain), the
abra.sh exports and STACK_NAME, plus the labels the harness adds, merged by `docker stack config`
exactly as the swarm driver's deploy hands them over. Nothing is deployed or created."""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tempfile
from pathlib import Path

from runner.drivers import create_driver
from runner.errors import BadInput, InfraError
from runner.lint.lint import resolve_ref
from runner.ops import LIFECYCLE
from runner.recipe import bounded, git, naming
from runner.recipe.compose import chain_texts, check_recipe, version_label
from runner.recipe.envfile import merge_upgrade_env, parse_env, secret_specs
from runner.recipe.versions import choose_base
from runner.run.config import RunConfig
from runner.run.rundir import RunDir
from runner.targets import open_target


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", nargs="?", help="recipe name (e.g. custom-html-tiny) or path to a recipe git repo [RECIPE]")
    parser.add_argument("--ref", help="commit, branch or tag to render; default: the repo's HEAD [REF]")
    parser.add_argument("--diff", choices=["base"], help="`base`: what the upgrade changes, as a unified diff "
                        "from the upgrade base's first deploy to the ref's in-place chaos upgrade")
    parser.epilog = ("The domain is a run's (<recipe>-<8 hex>.<CCCI_DOMAIN_BASE>), so STACK_NAME and the labels "
                     "are as a run's. recipe_meta.py's EXTRA_ENV is not applied. Exit 0, or 2 on bad input (a recipe "
                     "file past cc-ci's input limits or outside the recipe too: docs/enroll-recipe.md).")


def main(args: argparse.Namespace) -> int:
    environ = {k: v for k, v in os.environ.items() if k not in ("REF", "PR", "VERSION", "STAGES")}
    environ |= {var: str(value) for var, value in (("RECIPE", args.recipe), ("REF", args.ref)) if value is not None}
    config = RunConfig.from_env(environ, LIFECYCLE)
    driver = create_driver("swarm", config.driver_settings, open_target(config.target_settings),
                           lambda line: print(line, file=sys.stderr))
    render = getattr(driver, "render", None)
    assert render is not None, "the swarm driver renders"
    try:
        with tempfile.TemporaryDirectory(prefix="ccci-render-") as scratch:
            run_dir = RunDir.at(Path(scratch), config.run_id)
            run_dir.logs.mkdir(parents=True)
            checkout = _clone(config, run_dir.recipe)
            head = resolve_ref(checkout, config.ref)
            domain = naming.app_domain(config.recipe_name, config.run_id, config.domain_base)
            check_recipe(checkout, head, domain)  # refused past a bound, or out (exit 2), before docker sees it
            if args.diff != "base":
                app = driver.new_app(config.recipe_name, checkout, config.run_id, run_dir.root, ref=head)
                sys.stdout.write(render(app, head))
                return 0
            base = _base(checkout, head)
            check_recipe(checkout, base, domain)
            app = driver.new_app(config.recipe_name, checkout, config.run_id, run_dir.root, ref=base)
            before = render(app, base)
            _merge_head_env(app, checkout, head)  # as the upgrade op does
            after = render(app, head, upgrade=True)
            sys.stdout.writelines(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                                       f"{base} (install)", f"{head[:12]} (upgrade)"))
            return 0
    finally:
        driver.target.close()


def _clone(config: RunConfig, checkout: Path) -> Path:
    try:
        git.git(None, "clone", "-q", "--no-hardlinks", config.recipe_source, str(checkout))
    except InfraError as err:
        raise BadInput(f"RECIPE: {config.recipe!r} could not be cloned from {config.recipe_source}: "
                       f"{str(err).split(': ', 1)[-1]}") from None
    return checkout


def _base(checkout: Path, head: str) -> str:
    """The upgrade base a run would choose (UPGRADE_FROM=previous, no pin)."""
    sample = bounded.show_file(checkout, head, ".env.sample") or ""
    texts = chain_texts(checkout, head, parse_env(sample, source=".env.sample").values)
    base, reason = choose_base(git.release_tags_before(checkout, head), git.tags_at(checkout, head),
                               version_label(texts), None, git.tags(checkout))
    if base is None:
        raise BadInput(f"--diff base: {reason}")
    return base


def _merge_head_env(app, checkout: Path, head: str) -> None:  # type: ignore[no-untyped-def]
    sample = bounded.show_file(checkout, head, ".env.sample") or ""
    head_env = parse_env(sample, overrides={"DOMAIN": app.domain}, source=f"{head[:12]}:.env.sample")
    merged, *_ = merge_upgrade_env(app.env, head_env, {})
    app.set_env(merged.values, secret_specs(merged))
