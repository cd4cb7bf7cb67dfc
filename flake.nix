{
  description = "cc-ci: a CI harness for Co-op Cloud recipes";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";

  # packages.<system>.cc-ci and nixosModules.cc-ci-bridge were parsed, never built or evaluated
  # against nixpkgs: docs/service.md says what was checked.
  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      version = (builtins.fromTOML (builtins.readFile ./pyproject.toml)).project.version;
    in {
      packages = forAll (pkgs: rec {
        cc-ci = pkgs.callPackage ./deploy/nix/package.nix { src = self; inherit version; };
        default = cc-ci;
      });

      nixosModules.cc-ci-bridge = { lib, pkgs, ... }: {
        imports = [ ./deploy/nix/module.nix ];
        services.cc-ci-bridge.package =
          lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.cc-ci;
      };
      nixosModules.default = self.nixosModules.cc-ci-bridge;

      devShells = forAll (pkgs: {
        default = pkgs.mkShell {
          packages = [ pkgs.python311 pkgs.git pkgs.docker pkgs.busybox pkgs.restic ];
          shellHook = ''
            echo "cc-ci dev shell: run scripts/test (needs a running docker engine you may use)"
          '';
        };
      });
    };
}
