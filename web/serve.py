"""Serve the site with waitress (a production WSGI server): ``python -m web.serve``."""

from __future__ import annotations

import argparse
import logging

from waitress import serve

from . import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the news archive.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=8)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app()
    with app.app_context():
        try:
            from .state import archive

            archive()  # open the index (and load the model) before the first request
        except Exception as problem:  # the site still starts and explains how to build the index
            logging.getLogger("web").warning("index not ready: %s", problem)
    print(f"Serving the news archive at http://{arguments.host}:{arguments.port}/", flush=True)
    serve(app, host=arguments.host, port=arguments.port, threads=arguments.threads, ident="news-archive")


if __name__ == "__main__":
    main()
