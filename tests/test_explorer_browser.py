"""The explorer's page in a real browser: headless Chromium, driven with Playwright, on a real server
(uvicorn on a free local port) over tiny trained runs. Hovering decodes, a click shows the test image and
its reconstruction, a shift-click draws the morph, the address restores the view, the samples panel draws
with the next seed, and a vq-vae page shows its codebook's use and its code vectors; every page loads
nothing but this server's files and logs no error. test_explorer.py checks the API's numbers; this
module checks that the page shows them. It is skipped, with the reason, without Playwright or a
Chromium (docs/testing.md, "The explorer in a browser")."""

from __future__ import annotations

import io
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
import torch

pytest.importorskip("fastapi", reason="the explorer needs FastAPI: pip install 'vaelab[explore]'")
pytest.importorskip("uvicorn", reason="the explorer needs uvicorn: pip install 'vaelab[explore]'")
from PIL import Image

from face_fixtures import TINY_TEST, train_tiny_faces
from vaelab.latent import decode_points, encode_images
from vaelab.presentation.explorer.app import STATIC_DIR, create_app
from vaelab.presentation.explorer.server import Explorer, listen, page_url
from vaelab.training import load_run
from vaelab.training.run import Run
from vq_runs import make_vq_runs

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the browser tests drive Chromium with Playwright: pip install 'vaelab[dev]'"
)

Page = sync_api.Page
Browser = sync_api.Browser

POINTS = 50
"""Test images embedded by each server, as test_explorer.py."""

WAIT_MS = 15_000
"""The longest any wait for the page may take (everything takes well under a second)."""

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_VARIABLE = "VAELAB_CHROMIUM"

"""A PixelCNN small enough to train in a second (as test_explorer.py and test_vq_prior.py)."""

SCRIPT = (STATIC_DIR / "explorer.js").read_text()


def script_constant(pattern: str) -> dict[str, float]:
    """The numbers named in explorer.js's line matching ``pattern`` (the page's own geometry)."""
    line = re.search(pattern, SCRIPT)
    assert line, pattern
    return {name: float(value) for name, value in re.findall(r"(\w+)\s*[:=]\s*(\d+(?:\.\d+)?)", line.group(0))}


MARGIN = script_constant(r"const MARGIN = \{[^}]*\}")
PICK_RADIUS = script_constant(r"const PICK_RADIUS = \d+")["PICK_RADIUS"]
USAGE = script_constant(r"const width = \d+, height = \d+, left = \d+[^;]*;")
"""The usage histogram's canvas: ``width``, ``height``, ``left``, ``bottom``, ``top`` (drawUsage)."""

CODE_COLOUR = (0xD6, 0x27, 0x28)  # explorer.js's CODE_COLOUR, #d62728


def find_chromium(playwright: Any) -> str:
    """The Chromium to drive: $VAELAB_CHROMIUM, else the first of CHROMIUM_NAMES on the PATH, else one
    that Playwright downloaded (`playwright install chromium`); skips the module, saying why, without one."""
    named = os.environ.get(CHROMIUM_VARIABLE)
    if named:
        if not Path(named).is_file():
            pytest.skip(f"${CHROMIUM_VARIABLE} names {named}, which is not a file")
        return named
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    own = playwright.chromium.executable_path
    if own and Path(own).is_file():
        return str(own)
    pytest.skip(
        f"no Chromium to drive: none of {', '.join(CHROMIUM_NAMES)} is on the PATH, ${CHROMIUM_VARIABLE} is not set "
        "and Playwright has none of its own (Debian: apt-get install chromium)"
    )


# ---- the servers -------------------------------------------------------------------------------------


@dataclass
class Served:
    """A run served by a real explorer server at ``url``."""

    run: Run
    url: str
    test_set: Any


def serve_in_thread(run: Run, test_set: Any) -> Iterator[Served]:
    """Serves ``run``'s explorer (its first POINTS test images, or all when fewer) on a free port of 127.0.0.1, as
    `vaelab explore --port 0` does, on a thread; stops it at the end."""
    sock = listen("127.0.0.1", 0)
    explorer = Explorer(page_url(sock), create_app(run, test_set, points=min(POINTS, len(test_set))), sock)
    thread = threading.Thread(target=explorer.run, daemon=True)
    thread.start()  # the socket listens already: requests wait in its backlog until uvicorn accepts them
    try:
        yield Served(run, explorer.url, test_set)
    finally:
        started = threading.Event()
        while explorer.server is None and thread.is_alive():  # stop only a server that exists
            started.wait(0.01)
        explorer.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()


@pytest.fixture(scope="module")
def ae_served(trained_run, test_images) -> Iterator[Served]:
    """conftest's book-ae (2-D, trained for 2 short epochs), served."""
    torch.set_num_threads(1)
    yield from serve_in_thread(trained_run, test_images)


@pytest.fixture(scope="module")
def vq_folders(tmp_path_factory, train_images, test_images) -> dict[str, Path]:
    """A vq-vae run trained for 1 short epoch on 60 synthetic images (``bare``, no prior), and a copy with
    a small PixelCNN prior trained for 1 epoch (``prior``)."""
    return make_vq_runs(tmp_path_factory.mktemp("vq-browser"), train_images, test_images)


@pytest.fixture(scope="module")
def vq_served(vq_folders, test_images) -> Iterator[Served]:
    """The vq-vae run with its prior, served."""
    torch.set_num_threads(1)
    yield from serve_in_thread(load_run(vq_folders["prior"], "cpu"), test_images)


@pytest.fixture(scope="module")
def bare_vq_served(vq_folders, test_images) -> Iterator[Served]:
    """The vq-vae run without a prior, served."""
    torch.set_num_threads(1)
    yield from serve_in_thread(load_run(vq_folders["bare"], "cpu"), test_images)


@pytest.fixture(scope="module")
def faces_served(tmp_path_factory, celeba_dirs, image_cache_home) -> Iterator[Served]:
    """faces-128 trained for 1 short epoch on 48 synthetic faces (tests/face_fixtures.py), served: RGB
    images of 128×128, which the page shrinks as often as it enlarges them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(image_cache_home))
        patch.delenv("VAELAB_DATA", raising=False)
        run_dir = train_tiny_faces(
            "faces-128", tmp_path_factory.mktemp("faces-browser") / "run", celeba_dirs["official"]
        )
        run = load_run(run_dir, "cpu")
        test_set = run.test_set(limit=TINY_TEST)
    yield from serve_in_thread(run, test_set)


# ---- the browser ------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def browser() -> Iterator[Browser]:
    """Headless Chromium (the system's), driven by Playwright; skips the module when there is none (autouse:
    before the module's runs are trained)."""
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=find_chromium(playwright), headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Watched:
    """A page of the explorer and everything that went wrong on it: console errors, uncaught exceptions,
    failed requests, answers of 400 or more, and requests to anywhere but the server (refused)."""

    page: Page
    origin: str
    problems: list[str] = field(default_factory=list)
    requests: list[Any] = field(default_factory=list)
    """Every request the page made (Playwright's Request objects), in order."""

    def watch(self) -> None:
        page = self.page
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught exception: {error}"))
        page.on("requestfailed", lambda request: self.problems.append(f"failed: {request.url} ({request.failure})"))
        page.on("response", self._response)
        page.on("request", lambda request: self.requests.append(request))

    def _console(self, message: Any) -> None:
        if message.type in ("error", "assert"):
            self.problems.append(f"console {message.type}: {message.text}")

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.problems.append(f"{response.status} from {response.url}")

    def assert_clean(self) -> None:
        assert not self.problems, "\n".join(self.problems)

    def api_requests(self, route: str) -> list[dict[str, str]]:
        """The query of each request the page made to ``route`` (e.g. "/api/decode"), in order."""
        found = []
        for request in self.requests:
            parts = urlsplit(request.url)
            if parts.path == route:
                found.append({k: v[-1] for k, v in parse_qs(parts.query).items()})
        return found


@pytest.fixture
def open_page(browser) -> Iterator[Callable[[str, str], Watched]]:
    """``open_page(server_url, query)``: a new page of the explorer at ``server_url`` + ``query``, loaded
    and watched, in a browser context that reaches nothing but that server."""
    contexts = []

    def opener(server_url: str, query: str = "") -> Watched:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
        contexts.append(context)
        page = context.new_page()
        watched = Watched(page, server_url.rstrip("/"))
        watched.watch()

        def only_the_server(route: Any) -> None:
            url = route.request.url
            if url == server_url.rstrip("/") or url.startswith(server_url):
                route.continue_()
            else:
                watched.problems.append(f"a request outside the server, refused: {url}")
                route.abort()

        context.route("**/*", only_the_server)
        page.set_default_timeout(WAIT_MS)
        page.goto(server_url + query)
        page.wait_for_function("() => document.getElementById('legend').children.length > 0")  # the page started
        return watched

    yield opener
    for context in contexts:
        context.close()


# ---- what the page shows ------------------------------------------------------------------------------


def wait_shown(page: Page, element: str) -> None:
    """Waits until <img id=element> shows a loaded image."""
    page.wait_for_function(
        "id => { const i = document.getElementById(id); return !i.hidden && i.complete && i.naturalWidth > 0; }",
        arg=element,
    )


def shown_pixels(page: Page, element: str) -> np.ndarray:
    """The pixels of the image <img id=element> shows (its PNG as loaded, before the page's CSS), as
    [H, W] for grey images: drawn on a canvas of its natural size and read back."""
    wait_shown(page, element)
    width, height, data = page.evaluate(
        """id => {
            const img = document.getElementById(id);
            const canvas = document.createElement("canvas");
            canvas.width = img.naturalWidth;
            canvas.height = img.naturalHeight;
            const ctx = canvas.getContext("2d");
            ctx.drawImage(img, 0, 0);
            return [canvas.width, canvas.height, Array.from(ctx.getImageData(0, 0, canvas.width, canvas.height).data)];
        }""",
        element,
    )
    rgba = np.asarray(data, dtype=np.uint8).reshape(height, width, 4)
    return rgba[..., 0].astype(int)


def canvas_rgba(page: Page, element: str, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """The pixels of <canvas id=element> as [H, W, 4] (device pixels; the tests use a ratio of 1), all of
    them or those of ``box`` (left, top, width, height): a whole plot is slow to send."""
    width, height, data = page.evaluate(
        """([id, box]) => {
            const canvas = document.getElementById(id);
            const [x, y, w, h] = box || [0, 0, canvas.width, canvas.height];
            return [w, h, Array.from(canvas.getContext("2d").getImageData(x, y, w, h).data)];
        }""",
        [element, box],
    )
    return np.asarray(data, dtype=np.uint8).reshape(height, width, 4)


def png(body: bytes) -> np.ndarray:
    """The pixels of a PNG. (Playwright's ``Response.body()`` of the page's own fetches comes back empty
    here, so the tests ask the server again, with ``page.request``, for what the page was sent.)"""
    return np.asarray(Image.open(io.BytesIO(body))).astype(int)


def as_uint8(image: np.ndarray) -> np.ndarray:
    """A one-channel float image [1, H, W] in [0, 1] as the 0…255 values a PNG holds."""
    return np.rint(np.clip(image[0], 0, 1) * 255).astype(int)


def text(page: Page, element: str) -> str:
    return page.locator(f"#{element}").inner_text()


def query_of(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


@dataclass(frozen=True)
class PlaneView:
    """The page's map from a plane to its plot (explorer.js's makeView): a square of ``inner`` CSS pixels
    at (left, top), equal scales on both axes, centred on the shown points' bounds, y upwards."""

    xmin: float
    ymax: float
    span: float
    left: float
    top: float
    inner: float

    @classmethod
    def of(cls, bounds: dict[str, list[float]], size: float) -> PlaneView:
        (x0, x1), (y0, y1) = bounds["x"], bounds["y"]
        span = max(x1 - x0, y1 - y0)
        inner = size - max(MARGIN["left"] + MARGIN["right"], MARGIN["top"] + MARGIN["bottom"])
        return cls((x0 + x1 - span) / 2, (y0 + y1 + span) / 2, span, MARGIN["left"], MARGIN["top"], inner)

    def to_canvas(self, x: float, y: float) -> tuple[float, float]:
        return (
            self.left + (x - self.xmin) / self.span * self.inner,
            self.top + (self.ymax - y) / self.span * self.inner,
        )

    def to_plane(self, px: float, py: float) -> tuple[float, float]:
        return (
            self.xmin + (px - self.left) / self.inner * self.span,
            self.ymax - (py - self.top) / self.inner * self.span,
        )


def plot_view(watched: Watched, bounds: dict[str, list[float]]) -> PlaneView:
    box = watched.page.locator("#overlay").bounding_box()
    assert box is not None and box["width"] == box["height"], box
    return PlaneView.of(bounds, box["width"])


def get_json(watched: Watched, path: str) -> Any:
    response = watched.page.request.get(watched.origin + path)
    assert response.ok, response.status
    return response.json()


def lonely_points(points: dict[str, Any], view: PlaneView, count: int) -> list[int]:
    """``count`` points (positions in /api/points) whose nearest neighbour on the plot is farthest: a
    click on one picks it and no other."""
    xy = np.array([view.to_canvas(x, y) for x, y in zip(points["x"], points["y"], strict=True)])
    distances = np.linalg.norm(xy[:, None] - xy[None], axis=2) + np.eye(len(xy)) * 1e9
    order = np.argsort(-distances.min(axis=1))
    chosen = [int(i) for i in order[:count]]
    assert distances[chosen].min() > 2 * PICK_RADIUS, "no point stands alone on the plot"
    return chosen


def hover(watched: Watched, px: float, py: float) -> dict[str, str]:
    """Moves the mouse to (px, py) of the plot (whole CSS pixels: mouse events carry no fractions) and
    returns the query of the decode it causes, once its image and caption are shown. A decode still in
    flight (the start's, or a click's) is answered first: the one waited for is the first asked after the move."""
    page = watched.page
    assert px == round(px) and py == round(py), (px, py)
    earlier = len(watched.requests)
    with page.expect_response(
        lambda r: urlsplit(r.url).path == "/api/decode" and r.request in watched.requests[earlier:]
    ) as answer:
        page.locator("#overlay").hover(position={"x": px, "y": py})
    assert answer.value.ok
    query = query_of(answer.value.url)
    page.wait_for_function(  # the caption is written once the image is shown: 3 significant digits
        r"""([x, y]) => {
            const m = /^\((\S+), (\S+)\)$/.exec(document.getElementById("cursor-coords").textContent);
            const near = (shown, value) => Math.abs(Number(shown) - value) <= 5e-3 * Math.abs(value);
            return m !== null && near(m[1], x) && near(m[2], y);
        }""",
        arg=[float(query["x"]), float(query["y"])],
    )
    return query


def caption_point(caption: str) -> tuple[float, float]:
    """The (x, y) of the decoded image's caption, e.g. "(1.23, -0.456)"."""
    found = re.fullmatch(r"\((\S+), (\S+)\)", caption)
    assert found, caption
    return float(found.group(1)), float(found.group(2))


def decoded_at(run: Run, x: float, y: float) -> np.ndarray:
    """The image a 2-D model decodes at (x, y), as the PNG's values."""
    return as_uint8(decode_points(run.model, np.array([[x, y]], np.float32))[0])


# ---- the tests: a 2-D autoencoder --------------------------------------------------------------------


def test_hovering_the_plane_decodes_the_point_under_the_cursor(ae_served, open_page):
    watched = open_page(ae_served.url)
    page = watched.page
    points = get_json(watched, "/api/points")
    view = plot_view(watched, points["bounds"])
    assert urlsplit(page.url).query == ""  # the decode of the plane's centre at start is not put in the address
    for fx, fy in ((0.25, 0.3), (0.7, 0.8)):  # two places in the plot, away from its edges
        px, py = round(view.left + fx * view.inner), round(view.top + fy * view.inner)
        query = hover(watched, px, py)
        x, y = float(query["x"]), float(query["y"])
        expected = view.to_plane(px, py)  # a square plot, equal scales, y upwards
        assert np.allclose((x, y), expected, rtol=0, atol=1e-9 * view.span), ((x, y), expected)
        assert np.allclose(caption_point(text(page, "cursor-coords")), (x, y), rtol=5e-3, atol=1e-3 * view.span)
        pixels = shown_pixels(page, "decoded")
        assert pixels.shape == (32, 32)
        assert np.abs(pixels - decoded_at(ae_served.run, x, y)).max() <= 1
    assert np.ptp(pixels) > 40  # a trained model draws a real image, not a near-constant one
    assert urlsplit(page.url).query == ""  # hovering alone chooses nothing
    watched.assert_clean()


def test_a_click_shows_the_test_image_and_its_reconstruction(ae_served, open_page):
    watched = open_page(ae_served.url)
    page = watched.page
    points = get_json(watched, "/api/points")
    view = plot_view(watched, points["bounds"])
    (i,) = lonely_points(points, view, 1)
    index = points["indices"][i]
    px, py = view.to_canvas(points["x"][i], points["y"][i])
    with page.expect_response(lambda r: urlsplit(r.url).path == f"/api/image/{index}") as answer:
        page.locator("#overlay").click(position={"x": px + 2, "y": py - 2})  # near the point, not on it
    assert answer.value.ok
    pixels = shown_pixels(page, "pair")
    assert pixels.shape == (32, 64)
    assert np.array_equal(pixels[:, :32], ae_served.test_set.images[index, 0])  # the test image, left
    model = ae_served.run.model
    reconstruction = decode_points(model, encode_images(model, ae_served.test_set.images[index : index + 1]))
    assert np.abs(pixels[:, 32:] - as_uint8(reconstruction[0])).max() <= 1  # its reconstruction, right
    assert text(page, "point-info").startswith(f"test image {index} (")
    address = query_of(page.url)  # the clicked image, and the point the click decoded under the mouse
    assert address.keys() == {"a", "x", "y"} and address["a"] == str(index)
    clicked = view.to_plane(round(px + 2), round(py - 2))
    assert np.allclose((float(address["x"]), float(address["y"])), clicked, rtol=0, atol=0.1 * view.span / view.inner)
    watched.assert_clean()


def select_and_morph(watched: Watched, served: Served) -> tuple[int, int, PlaneView]:
    """Clicks one lonely point (A) and shift-clicks another (B); returns their test-set indices and the view."""
    page = watched.page
    points = get_json(watched, "/api/points")
    view = plot_view(watched, points["bounds"])
    first, second = lonely_points(points, view, 2)
    a, b = points["indices"][first], points["indices"][second]
    overlay = page.locator("#overlay")
    with page.expect_response(lambda r: urlsplit(r.url).path == f"/api/image/{a}"):
        overlay.click(position=dict(zip("xy", view.to_canvas(points["x"][first], points["y"][first]), strict=True)))
    with page.expect_response(lambda r: urlsplit(r.url).path == "/api/morph") as answer:
        overlay.click(
            position=dict(zip("xy", view.to_canvas(points["x"][second], points["y"][second]), strict=True)),
            modifiers=["Shift"],
        )
    assert answer.value.ok
    assert query_of(answer.value.url) == {"start": str(a), "end": str(b), "steps": "10", "method": "linear"}
    wait_shown(page, "morph")
    return a, b, view


def test_a_shift_click_draws_the_morph_from_the_clicked_point(ae_served, open_page):
    watched = open_page(ae_served.url)
    page = watched.page
    a, b, _ = select_and_morph(watched, ae_served)
    strip = shown_pixels(page, "morph")
    assert strip.shape == (32, 10 * 32)
    model = ae_served.run.model
    z = encode_images(model, ae_served.test_set.images[[a, b]])
    for k, f in enumerate(np.linspace(0, 1, 10)):
        expected = as_uint8(decode_points(model, (z[0] * (1 - f) + z[1] * f)[None])[0])
        assert np.abs(strip[:, 32 * k : 32 * (k + 1)] - expected).max() <= 1, k
    assert np.abs(strip[:, :32] - shown_pixels(page, "pair")[:, 32:]).max() <= 1  # its start: A's reconstruction
    info = text(page, "morph-info")
    assert info.startswith(f"A = test image {a} (") and f"→ B = test image {b} (" in info and "10 steps, linear" in info
    address = query_of(page.url)
    assert (address["a"], address["b"]) == (str(a), str(b)) and address.keys() == {"a", "b", "x", "y"}

    with page.expect_response(lambda r: urlsplit(r.url).path == "/api/morph") as answer:  # more steps, slerp
        page.locator("#steps").fill("4")
        page.locator("#steps").dispatch_event("change")
    assert query_of(answer.value.url)["steps"] == "4"
    page.wait_for_function("() => document.getElementById('morph').naturalWidth === 4 * 32")
    watched.assert_clean()


def overlay_ink(page: Page, px: float, py: float) -> int:
    """The most opaque overlay pixel within 2 pixels of (px, py): what the page drew over the scatter there."""
    return int(canvas_rgba(page, "overlay", (round(px) - 2, round(py) - 2, 5, 5))[..., 3].max())


def test_a_shared_address_restores_the_view(ae_served, open_page):
    watched = open_page(ae_served.url)
    page = watched.page
    a, b, view = select_and_morph(watched, ae_served)
    px, py = round(view.left + 0.35 * view.inner), round(view.top + 0.6 * view.inner)
    decoded = hover(watched, px, py)
    pixel = view.span / view.inner  # the address rounds the point, to a tenth of a pixel of the plot

    def holds_the_decoded_point(url: str) -> bool:
        linked = query_of(url)
        return all(abs(float(linked.get(k, "inf")) - float(decoded[k])) <= 0.1 * pixel for k in "xy")

    assert not holds_the_decoded_point(page.url)  # while the mouse is over the plot, the address stays put
    page.mouse.move(2, 2)  # leave the plot: the address now holds the point the decoded image shows
    try:
        page.wait_for_url(holds_the_decoded_point, timeout=5_000)
    except sync_api.TimeoutError:
        pytest.fail(f"leaving the plot did not put the decoded point {decoded} in the address: {page.url}")
    address = query_of(page.url)
    assert address.keys() == {"a", "b", "x", "y"} and (address["a"], address["b"]) == (str(a), str(b))
    x, y = float(address["x"]), float(address["y"])
    assert len(address["x"]) < 10, address  # a short number, not 17 digits
    shown = {name: shown_pixels(page, name) for name in ("pair", "morph")}
    captions = {name: text(page, name) for name in ("point-info", "morph-info")}

    shared = open_page(ae_served.url, "?" + urlsplit(page.url).query)  # the address, opened in another page
    restored = shared.page
    for name in ("pair", "morph"):
        assert np.array_equal(shown_pixels(restored, name), shown[name]), name
    for name in ("point-info", "morph-info"):
        assert text(restored, name) == captions[name], name
    restored.wait_for_function("() => document.getElementById('cursor-coords').textContent.startsWith('(')")
    assert shared.api_requests("/api/decode")[-1] == {"x": address["x"], "y": address["y"]}
    assert np.abs(shown_pixels(restored, "decoded") - decoded_at(ae_served.run, x, y)).max() <= 1
    assert np.allclose(caption_point(text(restored, "cursor-coords")), (x, y), rtol=5e-3, atol=1e-3 * view.span)
    assert query_of(restored.url) == address  # and the address still says so: reloading restores it again
    # the overlay: A's and B's rings, and the crosshair at the linked point (at the plot's edges, where nothing
    # else is drawn); the page that made the link drew no crosshair once the mouse had left
    points = get_json(shared, "/api/points")
    ring = {"a": points["indices"].index(a), "b": points["indices"].index(b)}
    for i in ring.values():
        cx, cy = view.to_canvas(points["x"][i], points["y"][i])
        assert overlay_ink(restored, cx, cy - 6) > 100 and overlay_ink(page, cx, cy - 6) > 100
    cx, cy = view.to_canvas(x, y)
    for edge in ((cx, view.top + 3), (view.left + 3, cy)):
        assert overlay_ink(restored, *edge) > 0 and overlay_ink(page, *edge) == 0, edge
    watched.assert_clean()
    shared.assert_clean()


def test_an_address_of_two_images_keeps_them(ae_served, open_page):
    watched = open_page(ae_served.url, "?a=2&b=0")  # as docs/explorer.md shows it: no point decoded
    page = watched.page
    wait_shown(page, "morph")
    assert text(page, "morph-info").startswith("A = test image 2 (") and "→ B = test image 0 (" in text(
        page, "morph-info"
    )
    page.wait_for_function("() => document.getElementById('cursor-coords').textContent.startsWith('(')")
    assert query_of(page.url) == {"a": "2", "b": "0"}  # neither B dropped nor the start's decode added
    watched.assert_clean()


def test_the_samples_panel_draws_again_with_the_next_seed(ae_served, open_page):
    watched = open_page(ae_served.url)
    page = watched.page
    page.wait_for_function("() => document.getElementById('samples-info').textContent.endsWith('seed 0')")
    first = shown_pixels(page, "samples")
    assert np.array_equal(first, png(page.request.get(watched.origin + "/api/samples?seed=0").body()))
    assert first.shape == (3 * 32, 6 * 32) and np.ptp(first) > 40  # the book's 18 in rows of 6
    assert "points drawn by the " in text(page, "samples-info")
    with page.expect_response(lambda r: urlsplit(r.url).path == "/api/samples") as answer:
        page.locator("#new-samples").click()
    assert query_of(answer.value.url) == {"seed": "1"}
    page.wait_for_function("() => document.getElementById('samples-info').textContent.endsWith('seed 1')")
    second = shown_pixels(page, "samples")
    again = png(page.request.get(watched.origin + "/api/samples?seed=1").body())
    assert np.array_equal(second, again) and not np.array_equal(second, first)
    assert page.locator("#new-samples").is_enabled()
    assert page.locator("#codebook-panel").is_hidden() and page.locator("#view-choice").is_hidden()
    watched.assert_clean()


# ---- the tests: a vq-vae with its prior ------------------------------------------------------------------


def test_a_vq_vae_page_shows_its_codebook_use_and_prior_samples(vq_served, open_page):
    watched = open_page(vq_served.url)
    page = watched.page
    codebook = get_json(watched, "/api/codebook")
    page.locator("#codebook-panel").wait_for(state="visible")
    info = text(page, "usage-info")
    assert info.startswith(f"{codebook['used']} of {codebook['codebook_size']} codes used at the ")
    assert f"perplexity {codebook['perplexity']:.4g} (" in info
    # the histogram: bars in the codes' colour from the plot's left, one per code sorted by use, so its
    # red ends where the used codes end; the most used reaches the top
    rgba = canvas_rgba(page, "usage").astype(int)
    # in the codes' colour, however faint (a code used once is a bar under a pixel tall: anti-aliased)
    red = (np.abs(rgba[..., :3] - np.array(CODE_COLOUR)).sum(axis=2) < 30) & (rgba[..., 3] > 0)
    columns = np.flatnonzero(red.any(axis=0))
    inner = USAGE["width"] - USAGE["left"] - 4  # drawUsage's plot: from `left` to 4 pixels before the edge
    bar = inner / codebook["codebook_size"]
    assert columns.size and abs(columns[0] - USAGE["left"]) <= 1
    assert abs(columns[-1] + 1 - (USAGE["left"] + codebook["used"] * bar)) <= 2, (columns[-1], codebook["used"])
    assert red[int(USAGE["top"]) + 1, int(USAGE["left"]) : int(USAGE["left"]) + 2].any()  # the tallest bar, first

    page.wait_for_function("() => document.getElementById('samples-info').textContent.endsWith('seed 0')")
    samples = shown_pixels(page, "samples")
    assert np.array_equal(samples, png(page.request.get(watched.origin + "/api/samples?seed=0").body()))
    assert "drawn from the learnt prior (a PixelCNN)" in text(page, "samples-info")
    assert "PCA of each image's grid of code vectors" in text(page, "facts")
    assert text(page, "plane-note").startswith("Each point is a test image")
    watched.assert_clean()


def test_the_code_vector_view_opens_from_its_address(vq_served, open_page):
    watched = open_page(vq_served.url, "?view=codebook")
    page = watched.page
    page.locator("#code-info").wait_for(state="visible")
    assert page.locator('input[name="view"][value="codebook"]').is_checked()
    assert page.locator("#legend").is_hidden()
    codebook = get_json(watched, "/api/codebook")
    assert text(page, "plane-note").startswith(f"Each point is one of the {codebook['codebook_size']} code vectors")
    view = plot_view(watched, codebook["bounds"])
    k = int(np.argmax(codebook["counts"]))  # the most used code: the largest point
    page.locator("#overlay").hover(
        position=dict(zip("xy", view.to_canvas(codebook["x"][k], codebook["y"][k]), strict=True))
    )
    expected = f"code {k}: chosen at {codebook['counts'][k]} of {codebook['positions']} grid positions ("
    page.wait_for_function("start => document.getElementById('code-info').textContent.startsWith(start)", arg=expected)
    assert watched.api_requests("/api/decode")[1:] == []  # only the start's decode: code vectors are not decoded
    assert query_of(page.url) == {"view": "codebook"}

    page.locator('input[name="view"][value="images"]').check()  # back to the test images
    page.locator("#legend").wait_for(state="visible")
    assert page.locator("#code-info").is_hidden() and query_of(page.url) == {}
    points = get_json(watched, "/api/points")
    view = plot_view(watched, points["bounds"])
    query = hover(watched, round(view.left + view.inner / 2), round(view.top + view.inner / 3))
    assert shown_pixels(page, "decoded").shape == (32, 32) and set(query) == {"x", "y"}
    watched.assert_clean()


def test_a_vq_vae_page_without_a_prior_says_what_to_run(bare_vq_served, open_page):
    watched = open_page(bare_vq_served.url)
    page = watched.page
    page.locator("#codebook-panel").wait_for(state="visible")  # its codebook needs no prior
    page.wait_for_function("() => document.getElementById('samples-info').textContent.includes('prior train')")
    line = text(page, "samples-info")
    assert f"vaelab prior train {bare_vq_served.run.dir}" in line and "restart the explorer" in line, line
    assert page.locator("#samples").is_hidden() and page.locator("#new-samples").is_disabled()
    assert watched.api_requests("/api/samples") == []  # the facts said it cannot draw: nothing is asked in vain
    watched.assert_clean()


def test_the_watch_sees_what_the_tests_forbid(ae_served, open_page):
    """The check every test ends with can fail: a request outside the server is refused and counted, and
    so are a console error, an uncaught exception and an answer of 404."""
    watched = open_page(ae_served.url)
    page = watched.page
    with (
        page.expect_event("requestfailed"),
        page.expect_response(lambda r: urlsplit(r.url).path == "/api/image/99999"),
        page.expect_console_message(lambda m: m.text == "an error in the console"),
        page.expect_event("pageerror"),
    ):
        page.evaluate(
            """async () => {
                await fetch("http://example.invalid/").catch(() => null);
                await fetch("/api/image/99999");
                console.error("an error in the console");
                setTimeout(() => { throw new Error("uncaught"); }, 0);
            }"""
        )
    for fragment in (
        "a request outside the server, refused: http://example.invalid/",
        "failed: http://example.invalid/",
        "404 from ",
        "console error: an error in the console",
        "uncaught exception: ",
    ):
        assert any(problem.startswith(fragment) for problem in watched.problems), (fragment, watched.problems)
    with pytest.raises(AssertionError):
        watched.assert_clean()


# ---- the tests: 128×128 faces ------------------------------------------------------------------------------


def shown_box(page: Page, element: str) -> tuple[int, int, float, float, str]:
    """<img id=element>'s natural width and height, the CSS pixels it is shown in, and its image-rendering."""
    wait_shown(page, element)
    return tuple(
        page.evaluate(
            """id => {
                const img = document.getElementById(id);
                const box = img.getBoundingClientRect();
                const rendering = getComputedStyle(img).imageRendering;
                return [img.naturalWidth, img.naturalHeight, box.width, box.height, rendering];
            }""",
            element,
        )
    )


def test_a_faces_128_page_shows_every_image_whole_and_smoothed(faces_served, ae_served, open_page, tmp_path):
    """128×128 RGB faces: each answer at its own size, shown whole in its box, smoothed where the page resizes
    it (a 32×32 run stays pixelated), and no grey-ink switch."""
    watched = open_page(faces_served.url)
    page = watched.page
    points = get_json(watched, "/api/points")
    view = plot_view(watched, points["bounds"])
    hover(watched, round(view.left + 0.4 * view.inner), round(view.top + 0.6 * view.inner))
    natural_w, natural_h, width, height, rendering = shown_box(page, "decoded")
    assert (natural_w, natural_h) == (128, 128) and rendering == "auto"
    assert 190 <= width <= 196 and 190 <= height <= 196  # explorer.css: 192 pixels and its border
    page.wait_for_function("() => document.getElementById('samples-info').textContent.endsWith('seed 0')")
    natural_w, natural_h, width, height, _ = shown_box(page, "samples")
    assert (natural_w, natural_h) == (10 * 128, 3 * 128)  # the faces' 30 in rows of 10
    assert width <= 386 and height == pytest.approx(width * 3 / 10, abs=3)  # shrunk whole, its proportions kept
    select_and_morph(watched, faces_served)
    natural_w, natural_h, width, height, _ = shown_box(page, "pair")
    assert (natural_w, natural_h) == (256, 128) and 158 <= height <= 164
    natural_w, natural_h, width, height, _ = shown_box(page, "morph")
    room = page.locator("#morph").evaluate("img => img.parentElement.getBoundingClientRect().width")
    assert (natural_w, natural_h) == (10 * 128, 128) and width <= room + 2  # within its panel (and its border)
    assert page.locator("#ink").is_hidden()  # RGB images: nothing to invert
    page.screenshot(path=str(tmp_path / "faces-128.png"), full_page=True)
    watched.assert_clean()

    small = open_page(ae_served.url)
    small_view = plot_view(small, get_json(small, "/api/points")["bounds"])
    hover(small, round(small_view.left + 0.5 * small_view.inner), round(small_view.top + 0.5 * small_view.inner))
    assert shown_box(small.page, "decoded")[4] in ("pixelated", "crisp-edges")  # 32×32: enlarged unsmoothed
    small.assert_clean()
