# flake.nix's outputs against a stand-in nixpkgs whose callPackage returns { path, args; }.
{ flake }:
let
  stubPkgs = {
    callPackage = path: args: { path = toString path; inherit args; };
    mkShell = attrs: attrs;
    python311 = "python311"; git = "git"; docker = "docker"; busybox = "busybox"; restic = "restic";
  };
  nixpkgs = {
    lib.genAttrs = names: f: builtins.listToAttrs (map (name: { inherit name; value = f name; }) names);
    legacyPackages = { x86_64-linux = stubPkgs; aarch64-linux = stubPkgs; };
  };
  outputs = (import flake).outputs { self = outputs; inherit nixpkgs; };
in
{
  names = builtins.attrNames outputs;
  modules = builtins.attrNames outputs.nixosModules;
  package = { inherit (outputs.packages.x86_64-linux.cc-ci) path; inherit (outputs.packages.x86_64-linux.cc-ci.args) version; };
}
