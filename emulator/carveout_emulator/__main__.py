"""Runs the emulator: `python -m carveout_emulator [--host H] [--port P]`."""

import argparse
import os
import signal
import sys

from . import check_moto_version


def main() -> None:
    parser = argparse.ArgumentParser(description="moto server with carveout's patches")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("EMULATOR_PORT", 5000)))
    args = parser.parse_args()
    if "MOTO_ACCOUNT_ID" in os.environ:
        raise SystemExit("unset MOTO_ACCOUNT_ID: it breaks moto's account switching")
    check_moto_version()
    # The seed registers its own base image; the 1,300 default AMIs only cost start time.
    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    os.environ.setdefault("MOTO_PORT", str(args.port))

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    from .middleware import CarveoutMiddleware
    from .patches import apply_all

    apply_all()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = CarveoutMiddleware(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
