"""The unit tests' forked pytest (tests/unit/forked_pytest.py) keeps what the tests that use it rely
on: each job in a process of its own, with exactly its environment and cwd, its exit code and
output, and a fresh import of the tier's files."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.unit.forked_pytest import ForkServer


def test_a_forked_job_gets_exactly_its_env_and_cwd_its_exit_code_and_output(
        fork_server: ForkServer, tmp_path: Path) -> None:
    seen = tmp_path / "seen.json"
    (tmp_path / "test_env.py").write_text(
        "import json, os\n\ndef test_env():\n"
        f"    json.dump({{'env': dict(os.environ), 'cwd': os.getcwd(), 'pid': os.getpid()}}, open({str(seen)!r}, 'w'))\n"
        "    assert False, 'told on stdout'\n")
    done = fork_server.run(["-q", "-p", "no:cacheprovider", "test_env.py"], {"PATH": os.environ["PATH"], "ONLY": "this"},
                           cwd=tmp_path)
    assert done.exit_code == 1 and "told on stdout" in done.stdout and "1 failed" in done.stdout
    got = json.loads(seen.read_text())
    own = {"PYTEST_CURRENT_TEST", "PYTEST_VERSION"}  # what pytest itself sets while it runs a test
    assert {k: v for k, v in got["env"].items() if k not in own} == {"PATH": os.environ["PATH"], "ONLY": "this"}
    assert got["cwd"] == str(tmp_path) and got["pid"] != os.getpid()


def test_each_job_imports_the_tier_files_afresh(fork_server: ForkServer, tmp_path: Path) -> None:
    test = tmp_path / "test_twice.py"
    test.write_text("def test_x():\n    pass\n")
    assert fork_server.run(["-q", "-p", "no:cacheprovider", str(test)], {}, cwd=tmp_path).exit_code == 0
    test.write_text("def test_x():\n    assert False\n")  # same path, new content: a fresh import sees it
    assert fork_server.run(["-q", "-p", "no:cacheprovider", str(test)], {}, cwd=tmp_path).exit_code == 1
