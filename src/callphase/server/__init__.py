"""The HTTP door: `callphase serve` (server/app.py), with its job store (store.py) and worker processes
(worker.py). It builds Options and runs callphase's one pipeline, like every other door."""
from __future__ import annotations

import threading
import time
from pathlib import Path

from .store import Store

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def run(host: str, port: int, data: Path, workers: int = 1, api_key: str | None = None, max_upload_mb: int = 2048,
        model: str = "base", allow_dirs: list[Path] | None = None, llm=None, device: str = "cpu",
        compute_type: str = "int8") -> None:
    """Serve until interrupted. Jobs left `processing` by a previous server that was killed go back to the
    queue (once) before the workers start."""
    import uvicorn

    from ..errors import OptionsError
    from .app import create_app
    from .worker import start_workers

    if host not in LOOPBACK and not api_key:
        raise OptionsError(f"refusing to serve on {host} without an API key: anyone on the network could use it",
                           option="server.api_key")
    store = Store(data)
    store.recover(alive=set())
    asr = {"model": model, "device": device, "compute_type": compute_type}
    procs = start_workers(data, asr, workers)

    def supervise() -> None:  # a worker that died is replaced, and its job queued again
        while True:
            time.sleep(5)
            for i, p in enumerate(procs):
                if not p.is_alive():
                    procs[i] = start_workers(data, asr, 1)[0]
            store.recover(alive={p.pid for p in procs})

    threading.Thread(target=supervise, daemon=True).start()
    app = create_app(store, api_key, max_upload_mb, allow_dirs, llm, model)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning")
    server = uvicorn.Server(config)
    server.run()
    for p in procs:
        p.terminate()
