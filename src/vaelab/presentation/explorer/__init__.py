"""The web explorer: a local page to see and explore one run's latent space (``vaelab explore``).

* :mod:`.state` — what is computed once (the test images' embedding and its plane; for a model with
  discrete codes, its codebook's use and plane) and the decoding and sampling done per request; no
  web code.
* :mod:`.app` — the FastAPI application: the page and its JSON/PNG API (``create_app``), its
  one-line error answers (404, 409, 422, 503) and its OpenAPI document.
* :mod:`.answers` — the JSON answers' shapes (pydantic models: the document's schemas).
* :mod:`.workers` — the 2 threads that build the answers, which bound the server's memory under load.
* :mod:`.server` — binding the port and serving with uvicorn (``serve``).
* ``static/`` — the page (plain HTML, CSS and JavaScript, served by the package itself).

FastAPI and uvicorn are the optional extra ``vaelab[explore]``; importing this package does not
need them, :func:`serve` says how to install them when they are missing.
"""

from vaelab.presentation.explorer.server import prepare_explorer, serve
from vaelab.presentation.explorer.state import ExplorerState, build_state

__all__ = ["ExplorerState", "build_state", "prepare_explorer", "serve"]
