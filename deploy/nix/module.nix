# services.cc-ci-bridge: the !testme bridge on NixOS (docs/service.md).
#
# `settings` mirrors the bridge's config file (runner/bridge/config.py) key for key, same names;
# tests/unit/deploy/test_nix.py fails when the two drift apart. An option left null is omitted
# from the generated file, so cc-ci's own default applies (docs/bridge.md lists them). Parsed and
# its options evaluated by the unit tests; never evaluated against nixpkgs or run (see the docs).
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkEnableOption mkIf mkOption types;
  cfg = config.services.cc-ci-bridge;

  required = type: description: mkOption { inherit type description; };
  optional = type: description: mkOption {
    type = types.nullOr type;
    default = null;
    description = "${description} Null: cc-ci's default.";
  };
  section = description: options: mkOption {
    type = types.submodule { inherit options; };
    default = { };
    inherit description;
  };

  # Paths are strings: a Nix path literal would copy a secret into the world-readable store.
  secretRef = types.submodule {
    options = {
      env = optional types.str "Read the secret from this environment variable (see environmentFile).";
      file = optional types.str "Read the secret from this file (trimmed), e.g. /run/secrets/cc-ci-forge-token.";
    };
  };

  executor = {
    # Not null: the config file's executor section must name its kind.
    kind = mkOption {
      type = types.enum [ "local" "drone" ];
      default = "local";
      description = "Which executor starts runs: local (this machine) or drone.";
    };
    capacity = optional types.ints.positive "Runs at once (local) or builds in flight (drone).";
    timeout_seconds = optional types.number "A run taking longer is stopped.";
    # local
    command = optional (types.listOf types.str) "local: the run command; the job comes in env vars.";
    workdir = optional types.str "local: the run command's working directory.";
    runs_dir = optional types.str "local: where run dirs go (CCCI_RUNS_DIR).";
    env = optional (types.attrsOf types.str) "local: extra environment for every run.";
    run_user = optional types.str "local: start runs as this Unix user (in the docker group); needs user = \"root\".";
    gc_command = optional (types.listOf types.str) "local: cc-ci gc, run with --run <run id> before a job whose run died with the bridge is re-queued.";
    # drone
    url = optional types.str "drone: the Drone server's base URL.";
    token = optional secretRef "drone: the Drone token, as {env} or {file}.";
    repo = optional types.str "drone: the Drone repo holding the cc-ci pipeline, owner/name.";
    branch = optional types.str "drone: the branch builds are created on.";
    poll_interval_seconds = optional types.number "drone: how often a build is polled.";
    summary_step = optional types.str "drone: the pipeline step whose log carries the verdict.";
  };

  settingsOptions = {
    forge = section "The Gitea/Forgejo forge." {
      url = required types.str "The forge's base URL, e.g. https://git.coopcloud.tech.";
      token = required secretRef "The bot account's API token, as {env} or {file}.";
      timeout_seconds = optional types.number "Timeout of one forge API call.";
    };
    webhook = section "The webhook listener." {
      secret = required secretRef "The webhook secret shared with the forge, as {env} or {file}.";
      host = optional types.str "Address to listen on.";
      port = optional types.port "Port to listen on.";
      path = optional types.str "URL path of the webhook.";
      max_body_bytes = optional types.ints.positive "Larger deliveries get 413.";
    };
    poll = section "Polling the forge for comments." {
      interval_seconds = optional types.number "Seconds between polls; 0 turns polling off.";
    };
    repos = required (types.attrsOf types.str) "Enrolled repos: forge owner/name -> recipe name.";
    allowlist = optional (types.listOf types.str) "Logins that may trigger without being org members.";
    executor = section "How runs are started (one executor; set only its keys)." executor;
    state_dir = optional types.str "bridge.sqlite3 and run logs (the service's StateDirectory is /var/lib/cc-ci/bridge).";
    public_url = optional types.str "Where this bridge's /runs/<id> pages are reachable.";
    status_context = optional types.str "Prefix of the commit status context.";
    log_format = optional (types.enum [ "text" "json" ]) "Log lines as text or JSON objects.";
    stages = optional (types.listOf types.str) "The lifecycle ops `!testme` may ask for (docs/bridge.md), each with the ops it needs (restore: install, backup); cc-ci's default is every op.";
    default_stages = optional (types.listOf types.str) "What a bare `!testme` runs, within `stages`; cc-ci's default is what a run by hand runs (STAGES unset), within `stages`.";
    reply_to_unauthorised = optional types.bool "Reply to comments from people who may not start runs.";
    max_attempts = optional types.ints.positive "A run interrupted by a bridge crash is retried up to this.";
    retry = section "Retries of forge and Drone API calls." {
      attempts = optional types.ints.positive "Attempts per call.";
      base_seconds = optional types.number "First backoff.";
      max_seconds = optional types.number "Longest backoff.";
    };
    nightly = section "The catalogue run once a day (docs/catalogue.md, Scheduling); unset: none." {
      catalogue = optional types.str "The catalogue file (needed with `at`).";
      at = optional types.str "The time of day, HH:MM, in `timezone` (needed with `catalogue`).";
      timezone = optional types.str "An IANA time zone; cc-ci's default is UTC.";
      jobs = optional types.ints.positive "Local executor: catalogue runs at once.";
      bisect = optional types.bool "Bisect a regression to its first bad commit.";
      retry = optional types.bool "Run a failed recipe once more from scratch (flaky is not green).";
      tracking_issues = optional (types.attrsOf types.ints.positive) "Enrolled repo owner/name -> the number of its tracking issue, where its recipe's regressions are commented.";
    };
    catalogue_history = optional types.str "The catalogue's history nightly writes and /catalogue shows.";
  };

  # Drop nulls (cc-ci's defaults apply) and empty sections.
  clean = value:
    if builtins.isAttrs value then
      lib.filterAttrs (_: v: v != null && v != { }) (lib.mapAttrs (_: clean) value)
    else value;
  configFile = (pkgs.formats.yaml { }).generate "cc-ci-bridge.yml" (clean cfg.settings);
  runUser = cfg.settings.executor.run_user;
  local = cfg.settings.executor.kind == "local";
  # gc judges the runs by their run dirs' locks, as the user the runs run as, with their env.
  gcUser = if runUser != null then runUser else cfg.user;
  runsDir = if cfg.settings.executor.runs_dir != null then cfg.settings.executor.runs_dir else "/var/lib/cc-ci/runs";
  runEnv = if cfg.settings.executor.env != null then cfg.settings.executor.env else { };
in
{
  options.services.cc-ci-bridge = {
    enable = mkEnableOption "the cc-ci !testme bridge";
    package = mkOption {
      type = types.package;
      description = "The cc-ci package (the flake's packages.<system>.cc-ci).";
    };
    user = mkOption {
      type = types.str;
      default = "root";
      description = ''
        The bridge's user. root when settings.executor.run_user is set (only root can start runs
        as another user); otherwise a user in the docker group, created by this module.
      '';
    };
    gcTimer = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Run `cc-ci gc` every 15 minutes (local executor): reclaims what runs killed before their
        teardown left on the swarm. The same as deploy/systemd/cc-ci-gc.{service,timer}.
      '';
    };
    environmentFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "A systemd EnvironmentFile with the values of {env} secrets; keep it out of the store.";
    };
    settings = mkOption {
      type = types.submodule { options = settingsOptions; };
      description = "The bridge's config file, key for key (docs/bridge.md).";
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = runUser == null || cfg.user == "root";
        message = "services.cc-ci-bridge: settings.executor.run_user needs user = \"root\".";
      }
    ];

    users.users = lib.optionalAttrs (runUser != null) {
      ${runUser} = {
        isSystemUser = true;
        group = runUser;
        extraGroups = [ "docker" ];
        home = "/var/lib/cc-ci/home-${runUser}";
        createHome = true;
      };
    } // lib.optionalAttrs (cfg.user != "root") {
      ${cfg.user} = {
        isSystemUser = true;
        group = cfg.user;
        extraGroups = [ "docker" ];
      };
    };
    users.groups = lib.optionalAttrs (runUser != null) { ${runUser} = { }; }
      // lib.optionalAttrs (cfg.user != "root") { ${cfg.user} = { }; };

    # The same service as deploy/systemd/cc-ci-bridge.service; the reasons are written there.
    systemd.services.cc-ci-bridge = {
      description = "cc-ci !testme bridge (Co-op Cloud recipe CI)";
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" "docker.service" ];
      wants = [ "network-online.target" ];
      startLimitIntervalSec = 300;
      startLimitBurst = 5;
      serviceConfig = {
        Type = "exec";
        ExecStart = "${cfg.package}/bin/cc-ci bridge --config ${configFile}";
        EnvironmentFile = lib.optional (cfg.environmentFile != null) cfg.environmentFile;
        User = cfg.user;
        # A non-root bridge cannot create the runs dir under /var/lib/cc-ci; systemd does.
        StateDirectory = [ "cc-ci/bridge" ] ++ lib.optional (cfg.user != "root") "cc-ci/runs";
        StateDirectoryMode = "0700";
        Restart = "on-failure";
        RestartSec = 5;
        RestartPreventExitStatus = 2;
        KillMode = "process";
        TimeoutStopSec = 45;
        NoNewPrivileges = true;
        ProtectSystem = "full";
        PrivateDevices = true;
        ProtectKernelTunables = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        RestrictNamespaces = true;
        LockPersonality = true;
        RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" "AF_NETLINK" ];
      };
    };

    # The same as deploy/systemd/cc-ci-gc.service and .timer; the reasons are written there.
    systemd.services.cc-ci-gc = mkIf (cfg.gcTimer && local) {
      description = "cc-ci gc: reclaim what killed runs left on the swarm";
      after = [ "docker.service" ];
      environment = runEnv;
      serviceConfig = {
        Type = "oneshot";
        ExecStart = "${cfg.package}/bin/cc-ci gc --runs-dir ${runsDir}";
        User = gcUser;
        SupplementaryGroups = [ "docker" ];
        TimeoutStartSec = "30min";
        NoNewPrivileges = true;
        ProtectSystem = "full";
        PrivateTmp = true;
        PrivateDevices = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        RestrictNamespaces = true;
        LockPersonality = true;
        RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" ];
      };
    };
    systemd.timers.cc-ci-gc = mkIf (cfg.gcTimer && local) {
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnBootSec = "5min";
        OnCalendar = "*:0/15";
        RandomizedDelaySec = 60;
        Persistent = true;
      };
    };
  };
}
