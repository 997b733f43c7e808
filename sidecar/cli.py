"""The `sidecar` command: run, check a configuration, print the OpenAPI document, run the sandbox."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from sidecar import logs, preflight, registry
from sidecar.config import ConfigError, Settings, load_settings

# Exit statuses besides sidecar.drain's: 2 when the configuration, or the machine, does not let it run.
CONFIG_ERROR = 2


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sandbox"]:  # its options are the sandbox server's own
        from sidecar.sandbox import server

        return server.main(argv[1:])
    parser = argparse.ArgumentParser(prog="sidecar", description="Payment sidecar on mitmproxy.")
    sub = parser.add_subparsers(dest="command", required=True)
    config_help = "YAML configuration file (default: $SIDECAR_CONFIG, else built-in defaults: the sandbox)"
    run = sub.add_parser("run", help="serve the canonical API (the sandbox gateways when no credentials)")
    run.add_argument("--config", type=Path, help=config_help)
    check = sub.add_parser("check", help="validate a configuration; prints every bad field, no secrets")
    check.add_argument("--config", type=Path, help=config_help)
    sub.add_parser("openapi", help="print the canonical API's OpenAPI 3.1 document")
    ca = sub.add_parser("ca", help="print the forward proxy's CA certificate (PEM) for clients to trust")
    ca.add_argument("--config", type=Path, help=config_help)
    sub.add_parser("sandbox", help="run only the sandbox gateways (every connector's simulator); see sandbox --help")
    args = parser.parse_args(argv)

    if args.command == "openapi":
        from sidecar import openapi

        sys.stdout.write(openapi.document().decode() + "\n")
        return 0

    if problems := registry.PROBLEMS:
        print(f"sidecar {args.command} cannot start: an installed connector is not valid:", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        return CONFIG_ERROR

    path = args.config or (Path(os.environ["SIDECAR_CONFIG"]) if os.environ.get("SIDECAR_CONFIG") else None)
    try:
        settings = load_settings(path)
        if args.command == "ca":
            from sidecar import ca

            sys.stdout.write(ca.certificate_pem(settings.forward_proxy.ca).decode())
            return 0
        if problems := preflight.problems(settings, ports=args.command == "run"):
            raise ConfigError(problems)
        if args.command == "check":
            print(_summary(settings, path))
            return 0

        from sidecar.runner import serve

        logs.configure(settings.log.level, settings.log.format)
        try:
            return asyncio.run(serve(settings))
        finally:
            logs.flush()
    except ConfigError as e:
        config = f"configuration {path or '(defaults)'}"
        if args.command == "check":
            print(f"{config} is not valid:", file=sys.stderr)
        else:
            print(f"sidecar {args.command} cannot start with {config}:", file=sys.stderr)
        for line in e.lines:
            print(f"  {line}", file=sys.stderr)
        return CONFIG_ERROR


def _summary(settings: Settings, path: Path | None) -> str:
    lines = [
        f"configuration {path or '(defaults)'} is valid",
        f"  canonical listener: {settings.listen.host}:{settings.listen.port}",
    ]
    if settings.ops.enabled:
        lines.append(f"  ops listener (health, metrics): {settings.ops.host}:{settings.ops.port}")
    if settings.webhooks is not None and settings.webhooks.listen is not None:
        lines.append(f"  webhook listener: {settings.webhooks.listen.host}:{settings.webhooks.listen.port}")
    for name, conn in settings.connectors.items():
        if conn.uses_sandbox:
            lines.append(f"  {name}: sandbox")
            continue
        accounts = ", ".join(sorted(conn.credentials)) or "none"
        proxy = conn.proxy.https or conn.proxy.http if conn.proxy else None
        lines.append(
            f"  {name}: {conn.base_url or 'default URL'}; accounts: {accounts}"
            + (f"; via proxy {proxy}" if proxy else "")
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
