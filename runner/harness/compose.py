"""Reading recipe compose files without deploying them: the chain's texts, read within bounds
(`bounded`), and what the harness needs of them before a deploy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runner.errors import BadInput
from runner.harness import bounded
from runner.harness.envfile import compose_files, parse_env

VERSION_LABEL = "coop-cloud.${STACK_NAME}.version"
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


def check_recipe(checkout: Path, ref: str) -> None:
    """Every file a run reads of the recipe at `ref` (.env.sample, abra.sh, the compose chain),
    through the bounds, before anything is deployed: OverLimit (exit 2) names the first one
    refused. Only the bounds: a file that is absent or does not parse is told where it always
    was (lint's CCCI-L01/L07, the deploy)."""
    sample = bounded.show_file(checkout, ref, ".env.sample") or ""
    bounded.show_file(checkout, ref, "abra.sh")
    try:
        env = parse_env(sample, source=bounded.at(ref, ".env.sample")).values
        chain = compose_files(env)
    except bounded.OverLimit:
        raise
    except BadInput:
        chain = ["compose.yml"]
    for name in chain:
        text = bounded.show_file(checkout, ref, name)
        try:
            bounded.load_yaml(text or "", bounded.at(ref, name))
        except bounded.NotYaml:
            pass
