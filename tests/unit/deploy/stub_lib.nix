# A stand-in for nixpkgs' lib with just what deploy/nix/module.nix uses (no nixpkgs on the test
# machine): option declarations become { _optionType = type; _default = default or null; }, types become their names.
let
  leaf = name: { inherit name; };
  types = {
    str = leaf "str";
    bool = leaf "bool";
    number = leaf "number";
    port = leaf "port";
    package = leaf "package";
    ints.positive = leaf "int";
    nullOr = type: type;
    listOf = _: leaf "listOf";
    attrsOf = _: leaf "attrsOf";
    enum = _: leaf "enum";
    submodule = m: { name = "submodule"; inherit (m) options; };
  };
in
{
  inherit types;
  mkOption = option: { _optionType = option.type; _default = option.default or null; };
  mkEnableOption = _: { _optionType = types.bool; _default = false; };
  mkIf = condition: content: if condition then content else { };
  optional = condition: value: if condition then [ value ] else [ ];
  optionalAttrs = condition: set: if condition then set else { };
  mapAttrs = builtins.mapAttrs;
  filterAttrs = keep: set:
    builtins.listToAttrs (builtins.filter (kv: keep kv.name kv.value)
      (map (name: { inherit name; value = set.${name}; }) (builtins.attrNames set)));
}
