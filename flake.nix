{
  description = "cc-ci: a CI harness for Co-op Cloud recipes";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in {
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
