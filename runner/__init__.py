"""cc-ci: a CI harness for Co-op Cloud recipes."""

from __future__ import annotations

import os
import sys

# Two optional imports of our dependencies that cc-ci never uses, made to fail as the dependency
# expects (it catches the ImportError that a None in sys.modules raises); here, because this runs
# before any module of cc-ci imports them:
# - docker-py imports paramiko (0.1 s) at `import docker`, for its own ssh:// transport: the SSH
#   target brings its link (runner/targets/ssh.py imports paramiko itself); an operator's
#   DOCKER_HOST=ssh://… keeps docker-py's transport;
# - httpx imports its command-line client (click, pygments: 20 ms) at `import httpx`.
if "paramiko" not in sys.modules and not os.environ.get("DOCKER_HOST", "").startswith("ssh://"):
    sys.modules.setdefault("docker.transport.sshconn", None)  # type: ignore[arg-type]
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
