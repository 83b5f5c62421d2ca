"""Keep FiftyOne's database service running after the command that started it exits.

Run as a script by :mod:`vidal.dataset.database` (never imported; standard library only, so
it starts in milliseconds and stays small): ``python dbholder.py COMMAND_JSON``, where
``COMMAND_JSON`` is FiftyOne's service command (``service/main.py --51-service db --multi
mongod ...``) as one JSON list. The command goes as one argument so that FiftyOne, which
finds its service by the separate arguments ``--51-service db --multi``, never mistakes this
process for the service.

FiftyOne's service keeps ``mongod`` alive while its parent holds its stdin open or any
registered client lives. This process is that parent: it holds the pipe until SIGTERM (sent
by ``vidal db stop``), SIGINT or SIGHUP, then closes it and waits; the service stops
``mongod`` once the clients still registered (a ``vidal review``, a FiftyOne App) exit.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading


def main(argv: list[str]) -> int:
    command = json.loads(argv[1])
    service = subprocess.Popen(command, stdin=subprocess.PIPE)
    release = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: release.set())
    while not release.wait(1.0):
        if service.poll() is not None:  # mongod or the service died: nothing left to hold
            return service.returncode or 1
    if service.stdin is not None:
        service.stdin.close()
    return service.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
