"""Starting the explorer: check the web packages, open the run, bind the port, embed, serve.

The port is bound before the (slow) embedding, so a port in use is reported at once; the bound
socket is handed to uvicorn. FastAPI and uvicorn are an optional extra (``vaelab[explore]``) and
are imported only here and in :mod:`.app`.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import socket
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vaelab.data.selection import AtMost, requested_count
from vaelab.errors import ConfigError
from vaelab.presentation.explorer.state import DEFAULT_POINTS
from vaelab.progress import colour_allowed
from vaelab.training.run import load_run

INSTALL_HINT = "pip install 'vaelab[explore]'"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000

#: Host names that listen on every interface; the printed URL uses the local address instead.
ANY_INTERFACE = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


WEB_PACKAGES = ("fastapi", "uvicorn")


def installed(package: str) -> bool:
    """Whether ``package`` can be imported."""
    return importlib.util.find_spec(package) is not None


def require_web_packages() -> None:
    """A :class:`ConfigError` naming the install command when FastAPI or uvicorn is missing."""
    missing = [name for name in WEB_PACKAGES if not installed(name)]
    if missing:
        raise ConfigError(f"the explorer needs {' and '.join(missing)}, which are not installed: {INSTALL_HINT}")


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host``:``port`` (port 0: any free port); one-line
    :class:`ConfigError` when the port is taken or the host cannot be used."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except socket.gaierror as exc:
        raise ConfigError(
            f"--host {host!r} is not an address or known host name of this machine ({exc.strerror})"
        ) from None
    except OverflowError:
        raise ConfigError(f"--port must be between 0 and 65535, got {port}") from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} on {host} is already in use (another explorer?); pick another with --port, "
                "or --port 0 for any free one"
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise ConfigError(f"--host {host} is not an address of this machine; try --host 127.0.0.1") from None
        if exc.errno == errno.EACCES:
            raise ConfigError(
                f"not allowed to listen on port {port} (ports below 1024 need root); use --port 8000"
            ) from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def page_url(sock: socket.socket) -> str:
    """The URL of the page served on ``sock``."""
    host, port = sock.getsockname()[:2]
    host = ANY_INTERFACE.get(host, host)
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


@dataclass
class Explorer:
    """An explorer ready to serve: its app is built and its socket listens at ``url``.

    :meth:`run` serves until :meth:`stop` (from another thread) or Ctrl-C, then closes the socket.
    """

    url: str
    app: Any
    sock: socket.socket
    server: Any = None

    def run(self) -> None:
        import uvicorn

        # uvicorn colours its log on any terminal; vaelab honours NO_COLOR (vaelab.progress.colour_allowed)
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, use_colors=colour_allowed())
        self.server = uvicorn.Server(config)
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.sock.close()
            self.app.state.workers.shutdown()
            self.app.state.file_reads.shutdown()

    def stop(self) -> None:
        """Ask a running server to finish (it does within a fraction of a second)."""
        if self.server is not None:
            self.server.should_exit = True


def prepare_explorer(
    run_dir: str | Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    points: int | None = None,
    data_dir: str | None = None,
    device: str = "auto",
    log: Callable[[str], None] = print,
) -> Explorer:
    """Open the run and its test set, bind ``host``:``port`` and embed the first ``points`` test images
    (default: :data:`DEFAULT_POINTS`, or all of them when fewer; a given ``points`` larger than the
    test set is a ConfigError naming its size).

    Every problem (no FastAPI, not a run directory, missing data, port in use) is a
    :class:`~vaelab.errors.VaelabError` raised before anything is served.
    """
    require_web_packages()
    from vaelab.presentation.explorer.app import create_app

    run = load_run(run_dir, device)
    test_set = run.test_set(data_dir, AtMost(DEFAULT_POINTS if points is None else points))
    points = requested_count(points, DEFAULT_POINTS, len(test_set), "--points", "test images")
    sock = listen(host, port)
    try:
        log(f"embedding {points:,} test images with the model of {run.dir} ...")
        app = create_app(run, test_set, points)
    except BaseException:
        sock.close()
        raise
    return Explorer(page_url(sock), app, sock)


def serve(
    run_dir: str | Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    points: int | None = None,
    data_dir: str | None = None,
    device: str = "auto",
    open_browser: bool = False,
    log: Callable[[str], None] = print,
) -> None:
    """Serve the latent-space explorer of ``run_dir`` until Ctrl-C; prints its URL and, with
    ``open_browser``, opens it in the default web browser."""
    explorer = prepare_explorer(run_dir, host, port, points, data_dir, device, log)
    log(f"exploring {run_dir} at {explorer.url} (Ctrl-C stops)")
    if open_browser:
        webbrowser.open(explorer.url)
    with contextlib.suppress(KeyboardInterrupt):
        explorer.run()
    log("explorer stopped")
