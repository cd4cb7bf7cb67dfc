# cc-ci as a Nix package, built from pyproject.toml. Parsed by the unit tests, never built there
# (no nixpkgs on the test machine): see docs/service.md.
{ lib, python311, makeWrapper, symlinkJoin, git, restic, docker-client, kmod, src, version }:
let
  python = python311;
  py = python.pkgs;
  # A library, not buildPythonApplication: an application is not a Python module, so
  # python.withPackages below would leave it out.
  cc-ci-lib = py.buildPythonPackage {
    pname = "cc-ci";
    inherit version src;
    pyproject = true;
    build-system = [ py.setuptools ];
    # pyproject.toml's [project].dependencies (tests/unit/deploy/test_nix.py keeps them equal)
    dependencies = with py; [ pytest pyyaml docker paramiko pydantic rich httpx certifi starlette uvicorn prometheus-client jinja2 anybadge pyflakes playwright ];
    # runner/plumbing/paths.py finds tests/ (the generic floor, overlays, the allowlist) beside runner/.
    postInstall = ''
      cp -r tests "$out/${python.sitePackages}/"
    '';
    pythonImportsCheck = [ "runner.cli" ];
    doCheck = false; # the suite needs a docker engine and a swarm
  };
  # The harness re-runs its own interpreter (sys.executable) with a minimal environment for the
  # pytest tiers, and the bridge starts runs with it: an env's wrappers make that interpreter the
  # env's, which has every dependency.
  env = python.withPackages (_: [ cc-ci-lib ]);
in
symlinkJoin {
  name = "cc-ci-${version}";
  paths = [ env ];
  nativeBuildInputs = [ makeWrapper ];
  # Runs call git, restic, docker and modprobe.
  postBuild = ''
    rm "$out/bin/cc-ci"
    makeWrapper "${env}/bin/cc-ci" "$out/bin/cc-ci" \
      --prefix PATH : ${lib.makeBinPath [ git restic docker-client kmod ]}
  '';
  passthru = { inherit python cc-ci-lib; };
  meta = {
    description = "CI harness for Co-op Cloud recipes";
    mainProgram = "cc-ci";
  };
}
