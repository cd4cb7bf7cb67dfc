# The option tree of a NixOS module at `path`: { name = { sub-option tree } or a leaf; } where a
# leaf is null, or with `defaults = true` the option's default (null when it has none).
# Evaluated against stub_lib.nix; the module's `config` part is never forced.
{ module, path, defaults ? false }:
let
  tree = options: builtins.mapAttrs
    (_: option: if option._optionType.name == "submodule" then tree option._optionType.options
      else if defaults then option._default else null)
    options;
  evaluated = import module {
    lib = import ./stub_lib.nix;
    config = throw "the module's config part is not evaluated here";
    pkgs = throw "no nixpkgs here";
  };
in
tree (builtins.foldl' (set: name: set.${name}) evaluated.options path)
