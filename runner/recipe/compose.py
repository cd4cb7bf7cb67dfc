"""Reading recipe compose files without deploying them: the chain's texts, read within bounds
(`bounded`), and what the harness needs of them before a deploy."""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from runner.errors import BadInput
from runner.recipe import bounded, naming
from runner.recipe.envfile import compose_files, parse_abra_exports, parse_env

VERSION_LABEL = "coop-cloud.${STACK_NAME}.version"
# how older Co-op Cloud recipes labelled their version; cc-ci reads only VERSION_LABEL
OLD_VERSION_LABEL = "coop-cloud.${STACK_NAME}.app.version"
Texts = Mapping[str, str] | Sequence[str]  # the chain's texts by file name, or in order


def deploy_labels(service: dict[str, Any]) -> dict[str, str]:
    """A compose service's deploy labels, whether written as a list (`k=v`) or a map."""
    deploy = service.get("deploy")
    raw = deploy.get("labels") if isinstance(deploy, dict) else None
    if isinstance(raw, dict):
        return {str(k): "" if v is None else str(v) for k, v in raw.items()}
    if not isinstance(raw, list):
        return {}  # absent, or a shape compose refuses: no labels to read
    labels = {}
    for item in raw:
        key, _, value = str(item).partition("=")
        labels[key] = value
    return labels


def load_chain(texts: Texts) -> list[dict[str, Any]]:
    """Each file of the chain loaded by the one bounded loader (RecipeFileError names the file);
    a file that is empty or not a mapping reads as {}."""
    named = texts.items() if isinstance(texts, Mapping) else ((f"COMPOSE_FILE #{i}", t) for i, t in enumerate(texts, 1))
    loaded = (bounded.load_yaml(text, name) for name, text in named)
    return [data if isinstance(data, dict) else {} for data in loaded]


def version_label(compose_texts: Texts) -> str | None:
    """The recipe's `coop-cloud.${STACK_NAME}.version` label across the COMPOSE_FILE chain."""
    found = None
    for data in load_chain(compose_texts):
        for service in _services(data).values():
            value = deploy_labels(service).get(VERSION_LABEL)
            if value:
                found = value  # a later file in the chain overrides an earlier one
    return found


def service_names(compose_texts: Texts) -> list[str]:
    """Every service the COMPOSE_FILE chain declares, in order of first appearance."""
    names: dict[str, None] = {}
    for data in load_chain(compose_texts):
        names |= dict.fromkeys(str(name) for name in _services(data))
    return list(names)


def _services(data: dict[str, Any]) -> dict[Any, dict[str, Any]]:
    services = data.get("services")
    if not isinstance(services, dict):
        return {}
    return {name: spec if isinstance(spec, dict) else {} for name, spec in services.items()}


def chain_texts(checkout: Path, ref: str, env: dict[str, str]) -> dict[str, str]:
    """The texts of the compose files `ref` has of the env's COMPOSE_FILE chain, by name, each
    refused past its size limit before it is read."""
    found = {}
    for name in compose_files(env):
        text = bounded.show_file(checkout, ref, name)
        if text is not None:
            found[name] = text
    return found


def check_recipe(checkout: Path, ref: str, domain: str | None = None) -> None:
    """Every file a run reads of the recipe at `ref` (.env.sample, abra.sh, the compose chain),
    through the bounds, and every file its deploy would make the docker CLI read on the harness
    host (`host_files`), before anything is deployed: RecipeFileError (exit 2) names the first
    one refused. `domain` is the run's (default: .env.sample's), as the driver interpolates with
    it. Only the bounds: a file that is absent or does not parse is told where it always was
    (lint's CCCI-L01/L07, the deploy)."""
    sample = bounded.show_file(checkout, ref, ".env.sample") or ""
    abra_sh = bounded.show_file(checkout, ref, "abra.sh") or ""
    try:
        env = parse_env(sample, overrides={"DOMAIN": domain} if domain else None,
                        source=bounded.at(ref, ".env.sample")).values
        chain = compose_files(env)
    except bounded.OverLimit:
        raise
    except BadInput:
        env, chain = {}, ["compose.yml"]
    loaded = {}
    for name in chain:
        text = bounded.show_file(checkout, ref, name)
        try:
            loaded[name] = bounded.load_yaml(text or "", bounded.at(ref, name))
        except bounded.NotYaml:
            pass
    stack = naming.stack_name(domain or env.get("DOMAIN", ""))
    environ = interpolation_env(env, abra_sh, stack) | {k: v for k, v in os.environ.items() if k.startswith("DOCKER_")}
    check_host_files(loaded, chain[0], environ, bounded.tree(checkout, ref), lambda name: bounded.at(ref, name))


# -- files the docker CLI reads on the harness host ---------------------------------------------

# docker/cli's compose interpolation (cli/compose/template): `$$`, `$VAR`, `${VAR}`, and after the
# name `:-`/`-` (default when unset or empty / unset), `:?`/`?` (an error when ...), tried in that order
_SUBST = r"[_a-z][_a-z0-9]*(?::?[-?][^}]*)?"
_TEMPLATE = re.compile(rf"\$(?i:(?P<escaped>\$)|(?P<named>{_SUBST})|{{(?P<braced>{_SUBST})}}|(?P<invalid>))")


def interpolation_env(app_env: Mapping[str, str], abra_sh: str, stack: str) -> dict[str, str]:
    """What compose interpolation sees in a deploy: only the app env, abra.sh's exports, STACK_NAME
    and the harness's PATH and HOME (the target adds the DOCKER_* that reach its swarm)."""
    host = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
    return host | dict(app_env) | parse_abra_exports(abra_sh) | {"STACK_NAME": stack}


def interpolate(template: str, env: Mapping[str, str]) -> str | None:
    """`template` as `docker stack deploy` interpolates it with `env`; None where docker refuses
    it (an invalid `$`, a required variable unset): that deploy reads nothing."""
    failed = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal failed
        if match["escaped"]:
            return "$"
        found = match["named"] or match["braced"]
        if not found:
            failed = True
            return ""
        for sep in (":-", "-", ":?", "?"):
            if sep in found:
                name, _, rest = found.partition(sep)
                value = env.get(name)
                if sep == ":-":
                    return value or rest
                if sep == "-":
                    return rest if value is None else value
                failed = failed or not (value if sep == ":?" else value is not None)
                return value or ""
        return env.get(found, "")
    result = _TEMPLATE.sub(substitute, template)
    return None if failed else result


def referenced(template: str) -> Iterator[tuple[str, str]]:
    """Each variable `template` interpolates, as docker/cli's template reads it: (name, the
    separator after it: `""`, `":-"`, `"-"`, `":?"` or `"?"`). `$$` is an escaped dollar, no variable."""
    for match in _TEMPLATE.finditer(template):
        found = match["named"] or match["braced"]
        if not found:
            continue
        for sep in (":-", "-", ":?", "?"):
            if sep in found:
                yield found.partition(sep)[0], sep
                break
        else:
            yield found, ""


HostFile = tuple[str, str, str]  # (compose file, entry, path as written)


def host_files(chain: Mapping[str, Any]) -> Iterator[HostFile]:
    """Every file a deploy of the loaded chain makes the docker CLI open on the harness host and
    hand to the swarm: each top-level config's and secret's `file:` and each service's `env_file:`
    (a string, a list, or compose's long form `{path: …}`). Nothing else of a compose is read on the
    client side by `docker stack deploy` (bind mounts are the node's; `build:` is ignored)."""
    for name, data in chain.items():
        if not isinstance(data, dict):
            continue
        for kind in ("configs", "secrets"):
            for key, spec in _mapping(data.get(kind)).items():
                if isinstance(spec, dict) and isinstance(spec.get("file"), str):
                    yield name, f"{kind}.{key}.file", spec["file"]
        for service, spec in _services(data).items():
            given = spec.get("env_file")
            for i, item in enumerate(given if isinstance(given, list) else [given]):
                path = item.get("path") if isinstance(item, dict) else item
                if isinstance(path, str):
                    yield name, f"services.{service}.env_file" + (f"[{i}]" if isinstance(given, list) else ""), path


def check_host_files(chain: Mapping[str, Any], first: str, env: Mapping[str, str], lookup: bounded.Lookup,
                     shown: Callable[[str], str]) -> None:
    """OutsideRecipe (exit 2) for the first of `host_files` that may not be read."""
    for refusal in host_file_refusals(chain, first, env, lookup, shown):
        raise refusal


def host_file_refusals(chain: Mapping[str, Any], first: str, env: Mapping[str, str], lookup: bounded.Lookup,
                       shown: Callable[[str], str]) -> Iterator[bounded.OutsideRecipe]:
    """Why each of `host_files` may not be read (one OutsideRecipe per file), its path
    interpolated with `env` and taken relative to the folder of `first`, the chain's first file
    (the docker CLI's working directory)."""
    base = posixpath.dirname(first)
    for name, entry, written in host_files(chain):
        path = interpolate(written, env)
        if path is None:
            continue
        said = entry if path == written else f"{entry} {written!r}"  # which variable took it out

        def refuse(why: str, name: str = name, said: str = said) -> bounded.OutsideRecipe:
            return bounded.OutsideRecipe(shown(name), f"{said}: {why} (the docker CLI would read it on the harness "
                                         "host and hand it to the swarm)",
                                         "name a file committed inside the recipe, relative to it (e.g. file: nginx.conf)")
        try:
            bounded.check_host_file(lookup, base, path, refuse)
        except bounded.OutsideRecipe as err:
            yield err


def _mapping(value: object) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}
