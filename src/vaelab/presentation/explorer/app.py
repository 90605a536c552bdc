"""The explorer's web application: the page (``/``, ``/static/*``) and its JSON/PNG API (``/api/*``).

Every image answer is a PNG of the model's own intensities (white = 1), at the model's image size
times ``scale``. Every number in a query or path is a plain ASCII decimal as on the command line
(:func:`vaelab.numbers.plain_int`, :func:`~vaelab.numbers.plain_float`): ``1_0``, `` 1`` or ``١``
are refused, not read as some other number. Every error answer's JSON body is ``{"detail": "<one line>"}``:

* 404 — a test image that is not embedded (``/api/image/{index}``), or the codebook of a model whose
  codes are continuous (``/api/codebook``: it has none, and never will);
* 409 — samples of a run that cannot draw them yet (``/api/samples`` of a vq-vae run whose prior is not
  trained): the request is right and the server fine, but the run lacks what it needs; the line says
  what to run (``vaelab prior train RUN_DIR``), after which a restarted explorer answers;
* 422 — any other invalid parameter;
* 503 — the run's files were damaged or removed while the server runs, or did not answer within
  :data:`READ_TIMEOUT` (``metrics.jsonl`` and the header of ``model.safetensors`` are read again
  for every ``/api/run``), or the machine failed a file operation (any :class:`OSError`,
  :class:`~vaelab.reading.FileProblem`, :class:`RecursionError` or
  :class:`~vaelab.errors.VaelabError` raised while serving). 503 *Service Unavailable*, not 500:
  the fault is neither the request's (so not 4xx; 409 *Conflict* would tell the client to change
  its request) nor a bug of the server (500), but a state of the machine that ends once the file
  is restored — the same request then succeeds. The line names the file and how to restore it.

The API is described at ``/docs`` (Swagger UI, whose scripts the browser fetches from a CDN) and,
offline, as OpenAPI at ``/openapi.json``: each route's statuses, all with :class:`ErrorDetail`, and
every parameter's bounds. The answers are built on :data:`WORKERS` threads of the app's own
(:mod:`.workers`), however many requests come at once; the run's files are read on
:data:`READERS` others, so a file that blocks never holds up decoding.

``/api/samples`` draws new images with the run's own sampler (:meth:`ExplorerState.samples`: a vq-vae's
learnt prior, a VAE's N(0, I), …), seeded; ``/api/codebook`` answers, for a model with discrete codes
(``discrete_codes`` in ``/api/run``), each code's use over the embedded images and the code vectors'
PCA plane.

For a conditional model (``cvae``; ``conditional`` in ``/api/run``) ``/api/decode`` needs ``class``,
the index of the class to decode under (in the schema with its bounds); for every other model the
parameter is not in the schema and is refused (422) when given. Reconstructions and morphs decode
each test image under its own class.
"""

# No ``from __future__ import annotations``: the routes' parameter types are built per app (an index's
# maximum is its number of embedded images), and FastAPI must see them as objects, not strings.
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParameter
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from vaelab import __version__
from vaelab.data.image_set import ImageSet
from vaelab.errors import ConfigError, RunDirError, VaelabError
from vaelab.limits import MAX_GENERATED, MAX_SEED
from vaelab.numbers import plain_float, plain_int
from vaelab.presentation.explorer.answers import CodebookUse, ErrorDetail, PlanePoints, RunFacts
from vaelab.presentation.explorer.state import (
    COORDINATE_LIMIT,
    DEFAULT_POINTS,
    MAX_STEPS,
    MIN_STEPS,
    ExplorerState,
    build_state,
    run_image_shape,
)
from vaelab.presentation.explorer.workers import AnswerWorkers, FileReads, ReadTimedOut
from vaelab.presentation.images import mosaic, png_bytes, tile
from vaelab.presentation.report import sample_grid
from vaelab.reading import FileProblem
from vaelab.training.run import Run

STATIC_DIR = Path(__file__).parent / "static"
"""The page: index.html, explorer.js, explorer.css (package data)."""

MAX_SCALE = 16
"""Largest pixel enlargement of an image answer (of a run whose images are at most 32 pixels wide:
:func:`max_scale`)."""

MAX_SCALED_SIDE = MAX_SCALE * 32
"""Largest side, in pixels, of one image enlarged in an answer: 512, a 32×32 image at :data:`MAX_SCALE`.
A run of larger images may enlarge them less (:func:`max_scale`: 8 times at 64×64, 4 at 128×128), so its
largest answer (60 samples, or a 32-step morph) is no larger than a 32×32 run's."""

PNG = "image/png"
JSON = "application/json"

ERROR_MEANINGS = {
    404: "the test image is not among the embedded ones",
    409: "the run cannot answer this yet (the line says what to run, then restart the explorer)",
    422: "a parameter is missing or invalid",
    503: "a file of the run was damaged, removed or did not answer while the explorer runs (restore it and ask again)",
}
"""What each error status means; every one answers an :class:`ErrorDetail`."""

WORKERS = 2
"""Threads that build the API's answers (decoding, PNG encoding, reading ``metrics.jsonl``); see
:mod:`.workers`. Concurrent requests wait for one of them in the event loop, so what answers in
progress hold, and what each thread keeps for itself (torch's OpenMP team, a malloc arena), is
bounded by this number, not by the number of requests. The model is used by one thread at a time
anyway (:class:`ExplorerState`'s lock); the second encodes a PNG meanwhile."""

READERS = 2
"""Threads that read the run's files for ``/api/run`` (:class:`~.workers.FileReads`), apart from the
:data:`WORKERS`: a read that blocks (a FIFO in place of ``metrics.jsonl``, a stalled network drive)
holds one of these, never a thread that decodes."""

READ_TIMEOUT = 10.0
"""Seconds ``/api/run`` waits for the run's files before it answers 503 (reading them takes
milliseconds)."""

T = TypeVar("T")


def plain_number(parse: Callable[[str], Any], form: str) -> BeforeValidator:
    """A validator that reads a parameter's text with ``parse`` (:func:`~vaelab.numbers.plain_int` or
    :func:`~vaelab.numbers.plain_float`) before pydantic checks its type and bounds, so that only
    the plain ASCII forms of the command line pass (pydantic alone would read ``1_0`` as 10 and
    `` 1`` as 1). Put it after the ``Query``/``Path`` in ``Annotated``: the schema keeps the
    parameter's type and bounds."""

    def check(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return parse(value)
        except ValueError:
            raise PydanticCustomError("plain_number", f"Input should be {form}") from None

    return BeforeValidator(check)


PLAIN_INT = plain_number(plain_int, "a plain integer (ASCII digits and an optional sign, e.g. 12)")
PLAIN_FLOAT = plain_number(
    plain_float, "a finite plain decimal number (ASCII digits, an optional sign, point and exponent, e.g. -0.5 or 1e-3)"
)


def max_scale(image_side: int) -> int:
    """The largest ``scale`` of a run whose images are ``image_side`` pixels wide: :data:`MAX_SCALE`, or
    less where the enlarged image would be wider than :data:`MAX_SCALED_SIDE` (at least 1)."""
    return max(1, min(MAX_SCALE, MAX_SCALED_SIDE // image_side))


def scale_query(state: ExplorerState) -> Any:
    """The bounds of the ``scale`` query parameter of ``state``'s image answers, 1 to :func:`max_scale` of
    its run's image width (checked, and in the schema): ``scale: Annotated[int, scale_query(state), PLAIN_INT]``."""
    largest = max_scale(run_image_shape(state.run)[-1])
    return Query(ge=1, le=largest, description="each pixel as a scale × scale block (nearest neighbour)")


MorphMethod = Literal["linear", "slerp"]
"""The interpolations of :data:`vaelab.latent.morph.METHODS` (a test keeps the two equal), as the schema's enum."""


def create_app(run: Run, test_set: ImageSet, points: int = DEFAULT_POINTS) -> FastAPI:
    """The explorer of ``run``: embeds the first ``points`` images of ``test_set`` once, then serves
    the page and the API (see :func:`app_for_state`)."""
    return app_for_state(build_state(run, test_set, points))


def app_for_state(
    state: ExplorerState, workers: int = WORKERS, readers: int = READERS, read_timeout: float = READ_TIMEOUT
) -> FastAPI:
    """The web application over an already computed :class:`ExplorerState` (kept as ``app.state.explorer``),
    building its answers on ``workers`` threads of its own (``app.state.workers``, see :data:`WORKERS`)
    and reading the run's files on ``readers`` others, awaited ``read_timeout`` seconds at most
    (``app.state.file_reads``, see :data:`READERS`)."""
    app = FastAPI(
        title="vaelab latent-space explorer",
        version=__version__,
        description="The latent space of one vaelab run: its test images' embeddings, and images decoded "
        'from any point of the plane they are shown in. Every error answer is `{"detail": "<one line>"}`.',
    )
    app.state.explorer = state
    app.state.workers = AnswerWorkers(workers)
    app.state.file_reads = FileReads(readers, read_timeout)
    app.add_exception_handler(RequestValidationError, _one_line_validation_error)
    for unavailable in (VaelabError, OSError, FileProblem, RecursionError):
        app.add_exception_handler(unavailable, _run_unavailable)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _add_page(app)
    _add_api(app, state, app.state.workers, app.state.file_reads)
    return app


def _add_page(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


def documented_answers(
    success: str | None = None, *errors: int, meanings: dict[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route: a PNG ``success`` (when given) and each error status with
    :class:`ErrorDetail`, described as in :data:`ERROR_MEANINGS` unless ``meanings`` says otherwise."""
    described = {**ERROR_MEANINGS, **(meanings or {})}
    documented: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorDetail, "description": described[status]} for status in errors
    }
    if success is not None:
        documented[200] = {"content": {PNG: {"schema": {"type": "string", "format": "binary"}}}, "description": success}
    return documented


def coordinate(description: str) -> Any:
    """A plane coordinate query parameter: finite and within :data:`COORDINATE_LIMIT` (checked and in the schema)."""
    return Query(
        ge=-COORDINATE_LIMIT,
        le=COORDINATE_LIMIT,
        allow_inf_nan=False,
        description=f"{description}; finite, from -{COORDINATE_LIMIT:g} to {COORDINATE_LIMIT:g}",
    )


PlaneX = Annotated[float, coordinate("first coordinate of the plane"), PLAIN_FLOAT]
PlaneY = Annotated[float, coordinate("second coordinate of the plane"), PLAIN_FLOAT]


def embedded_index(state: ExplorerState, description: str) -> dict[str, Any]:
    """Bounds of a test-image index: at least 0 (checked as the schema says) and at most the last
    embedded image (in the schema as ``maximum``, checked by the route, whose one line says how to
    embed more images)."""
    last = len(state) - 1
    return {
        "ge": 0,
        "description": f"{description}, 0 to {last:,} (the `points` of /api/run minus 1)",
        "json_schema_extra": {"maximum": last},
    }


def _add_api(app: FastAPI, state: ExplorerState, workers: AnswerWorkers, file_reads: FileReads) -> None:
    points_answer = PlanePoints.model_validate(state.points()).model_dump_json().encode()
    scale_bounds = scale_query(state)  # per app: the largest scale depends on the image size

    @app.get("/api/run", tags=["explorer"], response_model=RunFacts, responses=documented_answers(None, 503))
    async def run_facts() -> RunFacts:
        """The facts of the run and of the weights served: preset, model kind, dataset, latent size,
        image shape, the epoch of the weights served (`epochs_trained`, of `epochs_configured`) and
        its validation loss terms (`final_val`), the weights' SHA-256, whether the run's
        model.safetensors holds other weights by now (`weights_changed`, `weights_on_disk_epoch`,
        `note`: the explorer serves the weights it loaded until restarted), the number of embedded
        points and the plane's projection. `metrics.jsonl` and the header of model.safetensors are
        read again each time: 503 when metrics.jsonl was damaged or removed since the explorer
        started, or the files did not answer within a few seconds."""
        try:
            facts = await file_reads.run(state.facts)
        except ReadTimedOut as exc:
            raise RunDirError(
                f"reading the files of {state.run.dir} (metrics.jsonl, the header of model.safetensors) {exc}: is one "
                "a pipe, or on a stalled network drive? Restore it and ask again; the rest of the explorer works"
            ) from None
        return RunFacts.model_validate(facts)

    @app.get("/api/points", tags=["explorer"], response_model=PlanePoints)
    async def points() -> Response:
        """The embedded test images in the plane: coordinates `x` and `y`, class `labels` (null for a
        dataset without labels) and `class_names`, test-set `indices`, the plane's `bounds`
        (the embeddings' range plus 5% on each side) and `axis_labels`."""
        return Response(points_answer, media_type=JSON)  # validated and encoded once, at start-up

    decode_route = app.get(
        "/api/decode",
        tags=["explorer"],
        response_class=Response,
        responses=documented_answers("the decoded image", 422),
    )

    def decoded(x: float, y: float, condition: int | None, scale: int) -> Awaitable[Response]:
        return _png(workers, lambda: _checked(lambda: state.decode_plane(x, y, condition), 422), scale)

    if state.conditional:
        last = state.run.model.condition_dim - 1
        names = state.embedding.class_names
        listed = ", ".join(f"{k} {name}" for k, name in enumerate(names[:12])) + (", …" if len(names) > 12 else "")
        described = f"the class to decode under, 0 to {last}: an index of `class_names` of /api/points ({listed})"

        @decode_route
        async def decode_under_class(
            x: PlaneX,
            y: PlaneY,
            condition: Annotated[int, Query(alias="class", ge=0, le=last, description=described), PLAIN_INT],
            scale: Annotated[int, scale_bounds, PLAIN_INT] = 1,
        ) -> Response:
            """The image decoded at plane point (x, y) under `class`, this conditional model's class
            (`conditional` of /api/run): in a 2-D latent space z = (x, y); above 2-D the point of the
            PCA plane, z = mean + x·PC1 + y·PC2."""
            return await decoded(x, y, condition, scale)

    else:

        @decode_route
        async def decode(
            x: PlaneX,
            y: PlaneY,
            condition: Annotated[int | None, Query(alias="class", include_in_schema=False), PLAIN_INT] = None,
            scale: Annotated[int, scale_bounds, PLAIN_INT] = 1,
        ) -> Response:
            """The image decoded at plane point (x, y): in a 2-D latent space z = (x, y); above 2-D the
            point of the PCA plane, z = mean + x·PC1 + y·PC2. (This model takes no class: `class` is
            refused.)"""
            return await decoded(x, y, condition, scale)

    @app.get(
        "/api/image/{index}",
        tags=["explorer"],
        response_class=Response,
        responses=documented_answers("the test image beside its reconstruction", 404, 422),
    )
    async def image(
        index: Annotated[int, PathParameter(**embedded_index(state, "test-set index of an embedded image")), PLAIN_INT],
        scale: Annotated[int, scale_bounds, PLAIN_INT] = 1,
    ) -> Response:
        """Test image `index` (left) beside its reconstruction (right), the decoding of its embedding
        (its class is `class_names[labels[index]]` of `/api/points`); 404 beyond the embedded images."""

        def pair() -> np.ndarray:
            return mosaic(_checked(lambda: np.stack([state.original(index), state.reconstruction(index)]), 404)[None])

        return await _png(workers, pair, scale)

    @app.get(
        "/api/morph",
        tags=["explorer"],
        response_class=Response,
        responses=documented_answers("the decoded path as one row", 422),
    )
    async def morph_strip(
        start: Annotated[int, Query(**embedded_index(state, "test-set index of the first image")), PLAIN_INT],
        end: Annotated[int, Query(**embedded_index(state, "test-set index of the last image")), PLAIN_INT],
        steps: Annotated[
            int, Query(ge=MIN_STEPS, le=MAX_STEPS, description="images on the path, both ends included"), PLAIN_INT
        ] = 10,
        method: Annotated[MorphMethod, Query(description="interpolation")] = "linear",
        scale: Annotated[int, scale_bounds, PLAIN_INT] = 1,
    ) -> Response:
        """`steps` images decoded on the path between the two images' latent codes, left to right
        (the first and last are their reconstructions); linear is z0·(1−f) + z1·f, slerp keeps the norm;
        422 beyond the embedded images."""

        def strip() -> np.ndarray:
            return mosaic(_checked(lambda: state.morph(start, end, steps, method), 422).images[None])

        return await _png(workers, strip, scale)

    _add_sampling_api(app, state, workers)


def _add_sampling_api(app: FastAPI, state: ExplorerState, workers: AnswerWorkers) -> None:
    """``/api/samples`` (new images from the run's sampler) and ``/api/codebook`` (a discrete model's codebook)."""
    default_count, columns = sample_grid(state.run.config.dataset)
    scale_bounds = scale_query(state)  # per app: the largest scale depends on the image size

    @app.get(
        "/api/samples",
        tags=["explorer"],
        response_class=Response,
        responses=documented_answers(f"the samples, {columns} to a row", 409, 422),
    )
    async def samples(
        count: Annotated[
            int, Query(ge=1, le=MAX_GENERATED, description=f"images to draw, shown {columns} to a row"), PLAIN_INT
        ] = default_count,
        seed: Annotated[
            int, Query(ge=0, le=MAX_SEED, description="the draw's seed: the same seed gives the same images"), PLAIN_INT
        ] = 0,
        scale: Annotated[int, scale_bounds, PLAIN_INT] = 1,
    ) -> Response:
        """`count` new images drawn by the run's own sampler (`sampler` of /api/run: a vq-vae's PixelCNN
        prior over its code grids, a VAE's N(0, I), an autoencoder's bounding box of the embeddings, …)
        and decoded, left to right and top to bottom (a conditional model's sample k under class
        k mod its classes). 409 when the run cannot draw yet: a vq-vae run without a prior (train one
        with `vaelab prior train RUN_DIR`, then restart the explorer)."""

        def grid() -> np.ndarray:
            return tile(_checked(lambda: state.samples(count, seed), 409).images, columns)

        return await _png(workers, grid, scale)

    @app.get(
        "/api/codebook",
        tags=["explorer"],
        response_model=CodebookUse,
        responses=documented_answers(None, 404, meanings={404: "the model's codes are continuous: it has no codebook"}),
    )
    async def codebook() -> CodebookUse:
        """For a model with discrete codes (`discrete_codes` of /api/run: vq-vae), over the embedded test
        images: how many grid positions chose each code (`counts`), the codes `used` of
        `codebook_size`, and the `perplexity` of their frequencies; and the K code vectors themselves
        in the plane of their first two principal components (`x`, `y`, `bounds`, `axis_labels`). 404
        for a model whose codes are continuous."""
        answer = await workers.run(lambda: _checked(state.codebook_answer, 404))
        return CodebookUse.model_validate(answer)


def _checked(compute: Callable[[], T], status: int) -> T:
    """``compute()``, with a :class:`ConfigError` (a bad request) answered as ``status``."""
    try:
        return compute()
    except ConfigError as exc:
        raise HTTPException(status_code=status, detail=str(exc)) from None


async def _png(workers: AnswerWorkers, picture: Callable[[], np.ndarray], scale: int) -> Response:
    """The PNG answer of ``picture()`` at ``scale``: both the picture and its encoding made on ``workers``."""
    content = await workers.run(lambda: png_bytes(picture(), scale))
    return Response(content=content, media_type=PNG)


async def _one_line_validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's list of validation errors as one line, e.g. ``steps: Input should be less than or equal to 32``."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    parts = []
    for error in errors:
        where = [str(part) for part in error.get("loc", ()) if part not in ("query", "path")]
        given = error.get("input")  # the text, or the number a plain one was read as
        shown = isinstance(given, (str, int, float)) and not isinstance(given, bool)
        suffix = f" (got {given!r})" if shown else ""
        parts.append(f"{'.'.join(where) or 'request'}: {error.get('msg', 'invalid')}{suffix}")
    return JSONResponse(status_code=422, content={"detail": "; ".join(parts) or "invalid request"})


async def _run_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """A :class:`VaelabError`, :class:`OSError`, :class:`FileProblem` or :class:`RecursionError` raised
    while serving as a one-line answer: 503 (a damaged or removed run file, see the module docstring),
    or 422 for a :class:`ConfigError` (a bad value that no route turned into its own status)."""
    status = 422 if isinstance(exc, ConfigError) else 503
    return JSONResponse(status_code=status, content={"detail": one_line(exc)})


def one_line(exc: Exception) -> str:
    """``exc`` as one line: a :class:`VaelabError`'s message, what an :class:`OSError` failed on, or
    what a :class:`FileProblem` or :class:`RecursionError` says of a file that reached no route's
    own message (the routes name the file; this is the handler's safety net)."""
    if isinstance(exc, OSError) and not isinstance(exc, VaelabError):
        where = f" {exc.filename}" if exc.filename else ""
        text = f"the explorer could not use{where}: {exc.strerror or exc}"
    elif isinstance(exc, FileProblem):
        text = f"a file of the run {exc}; restore it and ask again"
    elif isinstance(exc, RecursionError):
        text = f"a file of the run is nested too deeply to be read ({exc}); restore it and ask again"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())
