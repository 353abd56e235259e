"""The `alexanderd` command: run the daemon, check a config, or start a dev instance.

Exit codes: 0 clean stop, 1 a child failed to boot or a listener could not be bound,
2 usage, 78 (EX_CONFIG) invalid configuration.
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import sys

from alexanderd.config import Config, ConfigError, load_config

EXIT_CONFIG = 78


def _drop_privileges(config: Config) -> None:
    user = config.server.user
    if os.geteuid() != 0 or not user:
        return
    pw = pwd.getpwnam(user)
    gid = grp.getgrnam(config.server.group).gr_gid if config.server.group else pw.pw_gid
    # The data and runtime dirs were created as root; hand them over before losing root.
    for path in (config.server.runtime_dir, config.storage.filesystem.base_path):
        for root, dirs, files in os.walk(path):
            os.chown(root, pw.pw_uid, gid)
            for name in dirs + files:
                os.chown(os.path.join(root, name), pw.pw_uid, gid, follow_symlinks=False)
    os.setgroups([])
    os.setgid(gid)
    os.setuid(pw.pw_uid)


def cmd_run(config_path: str) -> int:
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(f"alexanderd: invalid config {config_path}:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_CONFIG
    runtime_dir = config.server.runtime_dir
    os.makedirs(runtime_dir, mode=0o750, exist_ok=True)
    os.makedirs(config.storage.filesystem.base_path, mode=0o750, exist_ok=True)
    metrics_dir = os.path.join(runtime_dir, "metrics")
    # prometheus_client picks its multiprocess mode at import: set the dir before any import.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    from alexanderd import metrics

    metrics.prepare_multiproc_dir(metrics_dir)

    from protocol.logs import configure_logging, get_logger

    lc = config.logging
    configure_logging("supervisor", lc.level, lc.format, lc.file)
    from alexanderd.supervisor.listeners import bind_tcp, systemd_fds

    listeners = systemd_fds()
    if not listeners:
        try:
            listeners = [bind_tcp(config.server.host, config.server.port)]
        except OSError as exc:
            where = f"{config.server.host}:{config.server.port}"
            print(f"alexanderd: cannot listen on {where}: {exc.strerror}", file=sys.stderr)
            return 1
    _drop_privileges(config)
    get_logger("supervisor").info("starting", config=os.path.abspath(config_path))

    import anyio

    from alexanderd.supervisor.main import Supervisor

    supervisor = Supervisor(os.path.abspath(config_path), config, listeners)
    return int(anyio.run(supervisor.serve, backend=config.server.runtime))


def cmd_check_config(config_path: str) -> int:
    from alexanderd.config import check_config

    problems = check_config(config_path)
    if not problems:
        print(f"{config_path}: ok")
        return 0
    print(f"{config_path}: {len(problems)} problem(s)", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    return EXIT_CONFIG


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="alexanderd", description="S3-compatible object storage daemon"
    )
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the daemon in the foreground")
    run.add_argument("--config", "-c", required=True)
    check = sub.add_parser("check-config", help="validate a config file, listing every problem")
    check.add_argument("config")
    dev = sub.add_parser("dev", help="a local instance for trying things out (make run)")
    dev.add_argument("--data-dir", required=True)
    dev.add_argument("--port", type=int, default=8080)
    sub.add_parser("version")
    ns = p.parse_args(argv)
    if ns.command == "run":
        return cmd_run(ns.config)
    if ns.command == "check-config":
        return cmd_check_config(ns.config)
    if ns.command == "dev":
        from alexanderd.devserver import run_dev

        return run_dev(ns.data_dir, ns.port)
    from alexanderd.supervisor.main import VERSION

    print(VERSION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
