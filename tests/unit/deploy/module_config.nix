# What deploy/nix/module.nix makes of `settings` (given as JSON, every option present, null where
# unset, as the module system would hand them over): the service's ExecStart, whose --config file
# is rendered here as its JSON content instead of a store path.
{ module, settingsJSON, user ? "root", gcTimer ? true }:
let
  cfg = {
    enable = true;
    package = "/nix/store/cc-ci";
    environmentFile = null;
    inherit user gcTimer;
    settings = builtins.fromJSON settingsJSON;
  };
  evaluated = import module {
    lib = import ./stub_lib.nix;
    config.services.cc-ci-bridge = cfg;
    pkgs.formats.yaml = _: { generate = _: value: builtins.toJSON value; };
  };
in
{
  inherit (evaluated.config) assertions users;
  inherit (evaluated.config.systemd.services.cc-ci-bridge.serviceConfig) ExecStart StateDirectory User;
  gc = evaluated.config.systemd.services.cc-ci-gc;
  gcTimer = evaluated.config.systemd.timers.cc-ci-gc;
}
