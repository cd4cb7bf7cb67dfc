"""custom-html-repolocal after install (cc-ci's own overlay): the release's own page."""

from __future__ import annotations

import httpx

from runner.run.app import Deployment


def test_the_page_is_the_deployed_releases(http: httpx.Client, deployment: Deployment) -> None:
    upstream = deployment.version.split("+", 1)[1]  # 1.0.0+1.0 -> 1.0, the image's version
    assert f"<h1>custom-html-tiny {upstream}</h1>" in http.get("/").text
