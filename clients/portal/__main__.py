"""Run a demo portal: ``python -m clients.portal [--host 127.0.0.1] [--port 8001]``.

Configuration comes from ``PORTAL_*`` environment variables (see clients/README.md).
"""

from __future__ import annotations

import argparse
import sys

from . import ConfigError, create_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m clients.portal",
        description="Demo agency portal that signs citizens in with Panjereh (OpenID Connect).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8001, help="port to listen on (default: 8001)")
    args = parser.parse_args(argv)

    try:
        app = create_app()
    except ConfigError as exc:
        parser.error(str(exc))

    if app.config.get("PORTAL_SECRET_KEY_GENERATED"):
        print(
            "note: PORTAL_SECRET_KEY is not set; using a random key, so sessions "
            "end when the portal restarts.",
            file=sys.stderr,
        )
    print(
        f"{app.config['PORTAL_NAME_EN']} ({app.config['PORTAL_CLIENT_ID']}) -> "
        f"issuer {app.config['PORTAL_ISSUER']}; redirect URI "
        f"http://{args.host}:{args.port}/callback",
        file=sys.stderr,
    )
    app.run(host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
