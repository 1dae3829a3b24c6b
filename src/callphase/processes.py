"""What a worker process that runs call after call for a parent (the server's workers, the batch runner's)
needs from the operating system."""
from __future__ import annotations

import os
import threading
import time


def exit_with_parent(parent: int) -> None:
    """End this process at once when `parent` is gone (killed): the parent's restart or rerun does its
    call again, and nothing keeps running for a driver that no longer listens."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()
