"""Reading recipe compose files without deploying them. Pure: fed the files' text."""

from __future__ import annotations

from typing import Any

import yaml

VERSION_LABEL = "coop-cloud.${STACK_NAME}.version"


def deploy_labels(service: dict[str, Any]) -> dict[str, str]:
    """A compose service's deploy labels, whether written as a list (`k=v`) or a map."""
    raw = (service.get("deploy") or {}).get("labels") or {}
    if isinstance(raw, dict):
        return {str(k): "" if v is None else str(v) for k, v in raw.items()}
    labels = {}
    for item in raw:
        key, _, value = str(item).partition("=")
        labels[key] = value
    return labels


def version_label(compose_texts: list[str]) -> str | None:
    """The recipe's `coop-cloud.${STACK_NAME}.version` label across the COMPOSE_FILE chain."""
    found = None
    for text in compose_texts:
        data = yaml.safe_load(text) or {}
        for service in (data.get("services") or {}).values():
            value = deploy_labels(service or {}).get(VERSION_LABEL)
            if value:
                found = value  # a later file in the chain overrides an earlier one
    return found


def service_names(compose_texts: list[str]) -> list[str]:
    """Every service the COMPOSE_FILE chain declares, in order of first appearance."""
    names: dict[str, None] = {}
    for text in compose_texts:
        names |= dict.fromkeys(str(name) for name in ((yaml.safe_load(text) or {}).get("services") or {}))
    return list(names)
