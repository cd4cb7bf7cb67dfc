"""What the deployed version labels say, in words: the floor's install and upgrade checks of
`coop-cloud.${STACK_NAME}.version` name the label, what was expected and found, and the fix.
Pure: the app's merged deploy labels in, a sentence (or None) out."""

from __future__ import annotations

from collections.abc import Mapping

from runner.recipe.compose import OLD_VERSION_LABEL, VERSION_LABEL


def deployed(label: str, stack: str) -> str:
    """A compose label as docker holds it for this app: `${STACK_NAME}` replaced by the stack."""
    return label.replace("${STACK_NAME}", stack)


def version_label_missing(labels: Mapping[str, str], stack: str, version: str | None) -> str | None:
    """Why the app has no version label, with the fix; None when it has one. `version`: what the
    label should say, when known (a release deployed, the version the head declares)."""
    if labels.get(deployed(VERSION_LABEL, stack)):
        return None
    old = labels.get(deployed(OLD_VERSION_LABEL, stack))
    if old:
        return (f"the app's services carry no `{deployed(VERSION_LABEL, stack)}` label, but the old form "
                f"`{deployed(OLD_VERSION_LABEL, stack)}={old}` (older Co-op Cloud recipes): rename it to "
                f"`{VERSION_LABEL}` in the compose file's deploy labels (cc-ci reads only that form)")
    return (f"no service of the app carries the `{deployed(VERSION_LABEL, stack)}` label: add "
            f"`{VERSION_LABEL}={version or '<the recipe version>'}` to the deploy labels of the recipe's "
            "main service (abra reads the deployed version from it)")


def installed_version_problem(labels: Mapping[str, str], stack: str, version: str, chaos: bool) -> str | None:
    """Why the version label is not the version the install deployed; None when it is. A chaos
    deploy's version is read from the label itself, so only its presence is checked there."""
    missing = version_label_missing(labels, stack, None if chaos else version)
    if missing or chaos:
        return missing
    found = labels.get(deployed(VERSION_LABEL, stack))
    if found == version:
        return None
    return (f"the `{deployed(VERSION_LABEL, stack)}` label is {found}, yet the install deployed release "
            f"{version}: a release's compose carries its own version (set it to {version} in the commit "
            "tagged with it; `abra recipe release` does)")
