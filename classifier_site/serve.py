"""The web process: uvicorn serving ``classifier_site.asgi:application`` with the settings' limits.

    python -m classifier_site.serve [--host 127.0.0.1] [--port 8000] [--proxy-headers] [--access-log]

HTTPS when ``TLS_CERT_FILE`` and ``TLS_KEY_FILE`` name a certificate and its key
(browsers allow cameras only on HTTPS or localhost). Every way the service is
started (``make run``, Docker Compose, the tests, the benchmarks) starts the web
process with this command, so the limits of :mod:`classifier_site.server_limits`
always hold.

uvicorn with uvloop and httptools, rather than daphne: the web process's CPU
per upload is about a third lower, which the saturation benchmark needs (README,
Performance). One process serves one event loop; run more behind the proxy
for more cores (README, Several web processes).
"""

from __future__ import annotations

import argparse
import os


def command_line() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m classifier_site.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--proxy-headers", action="store_true",
                        help="trust X-Forwarded-For/-Proto from FORWARDED_ALLOW_IPS (default: any address); "
                             "only behind a proxy that sets them")
    parser.add_argument("--access-log", action="store_true", help="log each request")
    return parser


def main(argv: list[str] | None = None) -> None:
    options = command_line().parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "classifier_site.settings")  # the limits below read them
    import uvicorn

    from classifier_site.server_limits import HttpProtocol, request_limits, websocket_message_limit

    cert, key = os.environ.get("TLS_CERT_FILE"), os.environ.get("TLS_KEY_FILE")
    uvicorn.run(
        "classifier_site.asgi:application",
        host=options.host,
        port=options.port,
        loop="uvloop",
        http=HttpProtocol,
        ws="websockets-sansio",
        ws_max_size=websocket_message_limit(),
        timeout_keep_alive=request_limits()["idle_timeout"],
        # Open websockets do not end by themselves: a stop waits this long for them, then closes them.
        timeout_graceful_shutdown=5,
        lifespan="off",
        proxy_headers=options.proxy_headers,
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "*") if options.proxy_headers else None,
        access_log=options.access_log,
        server_header=False,
        ssl_certfile=cert if cert and key else None,
        ssl_keyfile=key if cert and key else None,
    )


if __name__ == "__main__":
    main()
