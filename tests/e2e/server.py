"""Serves the app for the browser tests, in a process of its own.

The main suite binds the global ``tracker.db.db`` to its own database; a second app in the same
process would rebind it under the other tests' feet. So the browser tests start this script instead.

Environment: TRACKER_DATABASE_URL (an SQLite file), TRACKER_SECRET_KEY and TRACKER_DEMO_PASSWORD.
It migrates the database, loads the demo data, then prints ``PORT=<n>`` once it listens.
"""

from __future__ import annotations

import os
import sys

from werkzeug.serving import make_server

from tracker import create_app
from tracker.cli import main as tracker_cli
from tracker.config import TEST_ARGON2
from tracker.migrate import upgrade


def serve() -> None:
    database_url = os.environ["TRACKER_DATABASE_URL"]
    upgrade(database_url)
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "SECRET_KEY": os.environ["TRACKER_SECRET_KEY"],
            "DEMO_PASSWORD": os.environ["TRACKER_DEMO_PASSWORD"],
            # Cheap hashes: these accounts protect nothing, and the demo seed hashes several passwords.
            "ARGON2": TEST_ARGON2,
        }
    )
    result = app.test_cli_runner().invoke(tracker_cli, ["seed-demo"])
    print(result.output, flush=True)
    if result.exit_code != 0:
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        sys.exit(f"seed-demo a échoué (code {result.exit_code})")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(f"PORT={server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    serve()
