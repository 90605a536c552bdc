"""Headless Chromium for tests: open a page with the network blocked, and see what it did.

Chromium is driven by its DevTools protocol over a pipe (``--remote-debugging-pipe``: JSON messages
ended by a NUL byte, on the browser's file descriptors 3 and 4), so a test needs no WebDriver, no
websocket client and no port, only the standard library and a ``chromium`` binary (Debian's
package; ``make setup`` installs it where apt can be used). :func:`find_chromium` returns None
without one, and the tests skip with :data:`MISSING`.

The network is blocked three times over: every host name resolves to nothing
(``--host-resolver-rules``), every HTTP(S) request goes to a proxy at 127.0.0.1:9 where nothing
listens, and the page's network is emulated offline. Whatever the page asks for is still seen:
:meth:`Chromium.visit` records each request the page starts (``Network.requestWillBeSent``), each
console error or uncaught exception, and each error the browser logs about the page (a resource
that failed, a Content-Security-Policy violation), and takes a screenshot.
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

#: Where to look for the browser: $VAELAB_CHROMIUM, then these names on the PATH.
NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
#: Why the browser tests skip without one.
MISSING = (
    "needs headless Chromium: no chromium on the PATH (install Debian's `chromium` package, which `make setup` "
    "does where apt can be used, or point VAELAB_CHROMIUM at a Chrome binary)"
)
#: The switches of every launch: headless, a profile of its own, nothing in the background, no network.
SWITCHES = (
    "--headless=new",
    "--remote-debugging-pipe",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-gpu",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
)
#: Seconds to wait for the browser's answer or a page's load.
TIMEOUT = 60


def find_chromium() -> str | None:
    """The browser to launch, or None when there is none."""
    chosen = os.environ.get("VAELAB_CHROMIUM")
    if chosen:
        return chosen
    return next((found for name in NAMES if (found := shutil.which(name))), None)


@dataclass
class Visit:
    """What a page did when it was opened: ``requests`` (every URL it asked for, the page's own
    included), ``errors`` (console errors, uncaught exceptions, errors the browser logged about
    it) and a ``screenshot`` (PNG bytes of the first screen)."""

    url: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    screenshot: bytes = b""

    def outside_requests(self) -> list[str]:
        """The requests for anything but the page itself and ``data:`` URIs (what it holds inline)."""
        return [url for url in self.requests if url != self.url and not url.startswith("data:")]

    def screenshot_colours(self) -> int:
        """How many colours the screenshot has (1: blank), up to 256."""
        with Image.open(io.BytesIO(self.screenshot)) as image:
            colours = image.convert("RGB").getcolors(maxcolors=256)
        return 256 if colours is None else len(colours)


class Chromium:
    """A headless Chromium process and its DevTools pipe (a context manager that closes it)."""

    def __init__(self, executable: str, width: int = 1200, height: int = 1600) -> None:
        self.size = (width, height)
        self.profile = tempfile.TemporaryDirectory(prefix="vaelab-chromium-")
        to_browser, self.commands = os.pipe()
        self.answers, from_browser = os.pipe()
        to_browser, from_browser = _above_four(to_browser), _above_four(from_browser)
        switches = [*SWITCHES, f"--user-data-dir={self.profile.name}", f"--window-size={width},{height}"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            switches.append("--no-sandbox")  # Chromium refuses its sandbox to root (CI containers)
        # The browser reads commands on fd 3 and writes answers on fd 4: the child moves the pipes there.
        self.process = subprocess.Popen(
            [executable, *switches, "about:blank"],
            preexec_fn=lambda: (os.dup2(to_browser, 3), os.dup2(from_browser, 4)),
            close_fds=False,  # fds 3 and 4 stay open (every other fd Python made is closed on exec)
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser)
        os.close(from_browser)
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Ask the browser to quit, and stop it if it does not."""
        try:
            self.send("Browser.close", wait=False)
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        for fd in (self.commands, self.answers):
            os.close(fd)
        self.profile.cleanup()

    def send(self, method: str, session: str | None = None, wait: bool = True, **params: Any) -> dict[str, Any]:
        """Send a command and return its result (raising on an error); events met meanwhile are kept."""
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.commands, json.dumps(message).encode() + b"\0")
        if not wait:
            return {}
        answer = self._until(lambda m: m.get("id") == self.next_id, f"the answer to {method}")
        if "error" in answer:
            raise RuntimeError(f"{method} failed: {answer['error']}")
        return answer.get("result", {})

    def _until(self, wanted: Any, what: str) -> dict[str, Any]:
        """Read messages until one is ``wanted`` (a predicate); every event read is kept in ``events``."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            while b"\0" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "method" in message:
                    self.events.append(message)
                if wanted(message):
                    return message
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.answers], [], [], left)[0]:
                raise TimeoutError(f"Chromium sent no {what} in {TIMEOUT} s")
            chunk = os.read(self.answers, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed its pipe before {what} (exit status {self.process.poll()})")
            self.buffer += chunk

    def visit(self, path: Path) -> Visit:
        """Open the file ``path`` in a new tab with the network off; what it did (:class:`Visit`)."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session)
        offline = {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
        self.send("Network.emulateNetworkConditions", session, **offline)
        width, height = self.size
        self.send(
            "Emulation.setDeviceMetricsOverride", session, width=width, height=height, deviceScaleFactor=1, mobile=False
        )
        visit = Visit(path.resolve().as_uri())
        self.events = []
        self.send("Page.navigate", session, url=visit.url)
        self._until(lambda m: m.get("method") == "Page.loadEventFired" and m.get("sessionId") == session, "page load")
        shot = self.send("Page.captureScreenshot", session, format="png")
        visit.screenshot = base64.b64decode(shot["data"])
        self.send("Target.closeTarget", targetId=target)
        for event in self.events:
            if event.get("sessionId") == session:
                _record(visit, event["method"], event.get("params", {}))
        return visit


def _above_four(fd: int) -> int:
    """``fd`` moved to a number above 4, so that the browser's 3 and 4 cannot be it."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


def _record(visit: Visit, method: str, params: dict[str, Any]) -> None:
    """Note in ``visit`` what one event says: a request, or an error."""
    if method == "Network.requestWillBeSent":
        visit.requests.append(params["request"]["url"])
    elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        visit.errors.append("console: " + " ".join(str(arg.get("value", arg)) for arg in params.get("args", [])))
    elif method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        visit.errors.append(f"exception: {details.get('exception', {}).get('description') or details.get('text')}")
    elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
        visit.errors.append(f"log ({params['entry'].get('source')}): {params['entry'].get('text')}")
