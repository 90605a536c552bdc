"""``vaelab report`` and ``vaelab compare --html``: one self-contained HTML page each.

What a page holds is read back from its HTML (the recipe, the parameter counts, the loss curves, every
figure byte for byte, the tables, the commands); that it points nowhere outside itself and that every
text from the run is escaped are checked on the parsed page; and, where Chromium is installed, each
page is opened in headless Chromium with the network blocked: no console error, no request leaving the
file, a screenshot that is not blank (tests/headless_chromium.py).
"""

from __future__ import annotations

import base64
import html
import io
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
from PIL import Image

from cli_run import assert_one_line_error, run_cli
from headless_chromium import MISSING, Chromium, find_chromium
from synthetic import synthetic_images
from vaelab.evaluation.results import DIAGNOSTICS, EVALUATION, merge_results
from vaelab.presentation import report
from vaelab.presentation.compare import CSV_FILE, MARKDOWN_FILE, write_comparison
from vaelab.presentation.html_page import MARKER, prose
from vaelab.presentation.html_report import REPORT_FILE, report_page, write_report
from vaelab.training import RunConfig, RunDir, load_run, train
from vaelab.training.prior import prepare_prior_config, train_prior
from vaelab.training.reproduce import train_command
from vaelab.training.run_dir import WeightsRecord

QUIET = {"progress": False, "log": lambda s: None}
#: The only elements a page may have: no script, link, frame, object, form or base.
ELEMENTS = {
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "small", "code", "p", "section",
    "table", "thead", "tbody", "tr", "th", "td", "div", "figure", "img", "figcaption", "pre", "details", "summary",
}  # fmt: skip
#: Attributes that make a browser fetch or go somewhere.
ADDRESSES = {"src", "href", "srcset", "action", "formaction", "data", "poster", "background", "xlink:href"}


class Page(HTMLParser):
    """A page parsed: its elements, every address an attribute holds, its text and its style."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: set[str] = set()
        self.addresses: list[str] = []
        self.style = ""
        self._in_style = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.elements.add(tag)
        self._in_style = tag == "style"
        self.addresses += [value or "" for name, value in attrs if name in ADDRESSES]

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.style += data

    def images(self) -> list[bytes]:
        """The bytes of every inline image."""
        prefix = "data:image/png;base64,"
        return [base64.b64decode(address[len(prefix) :]) for address in self.addresses if address.startswith(prefix)]


def assert_self_contained(text: str) -> Page:
    """The page has vaelab's first line, only :data:`ELEMENTS`, only inline PNG images, no address in its
    style, and a Content-Security-Policy that allows nothing else."""
    page = Page(text)
    assert text.startswith(MARKER + "\n")
    assert page.elements <= ELEMENTS, page.elements - ELEMENTS
    assert all(address.startswith("data:image/png;base64,") for address in page.addresses), page.addresses
    assert "url(" not in page.style and "@import" not in page.style
    assert "default-src &#x27;none&#x27;; img-src data:;" in text
    for image in page.images():
        with Image.open(io.BytesIO(image)) as picture:
            assert picture.format == "PNG" and picture.width > 0
    return page


def measure(run_dir: Path, sampler: str = "uniform-box", bce: float = 0.25) -> None:
    """Results of ``evaluate`` and ``diagnose`` for ``sampler``, as those commands record them."""
    weights = RunDir(run_dir).weights_record()
    figures = run_dir / "figures"
    figures.mkdir(exist_ok=True)
    merge_results(figures / EVALUATION, sampler, {"reconstruction": {"bce_per_pixel": bce}}, weights)
    merge_results(figures / DIAGNOSTICS, sampler, {"p3_holes": {"hole_fraction": 0.125}}, weights)


@pytest.fixture(scope="module")
def analysed_run(tmp_path_factory, trained_run, test_images):
    """The session's book-ae run (2 epochs) with its generated and reconstructions figures and measures."""
    run_dir = shutil.copytree(trained_run.dir.path, tmp_path_factory.mktemp("report") / "ae")
    shutil.rmtree(run_dir / "figures", ignore_errors=True)  # the session's run: other tests write figures there
    run = load_run(run_dir, "cpu")
    report.write_generated(run, test_images, 6)
    report.write_reconstructions(run, test_images, 4)
    measure(run_dir)
    return run_dir


@pytest.fixture
def run_copy(analysed_run, tmp_path):
    return shutil.copytree(analysed_run, tmp_path / "run")


def test_the_report_holds_the_recipe_counts_curves_figures_tables_and_commands(run_copy):
    path = write_report(run_copy)
    assert path == run_copy / REPORT_FILE
    text = path.read_text(encoding="utf-8")
    page = assert_self_contained(text)
    config = RunDir(run_copy).read_config()
    assert "encoder 96,770, decoder 246,273, total 343,043" in text  # the book's counts
    assert "Adam, lr 0.002, batch 20, 2 epochs, seed 0" in text and html.escape('"kind": "ae"') in text
    assert f"epoch 2, SHA-256 <code>{RunDir(run_copy).weights_record().sha256}</code>" in text
    assert "2 epochs of 2 completed" in text and "Each loss term of <code>metrics.jsonl</code>" in text
    for name in ("generated.png", "reconstructions.png"):
        assert (run_copy / "figures" / name).read_bytes() in page.images()
        assert f"<figcaption><code>figures/{name}</code></figcaption>" in text
    assert len(page.images()) == 3  # the loss curves and the two figures
    assert text.index("reconstructions.png") < text.index("generated.png")  # the chapter's order
    assert "<th>uniform-box (epoch 2)</th>" in text and '<td class="number">0.2500</td>' in text
    assert '<td class="number">0.125</td>' in text  # P3 in holes, from diagnostics.json
    assert html.escape(train_command(config, str(run_copy)).text) in text
    assert f"vaelab evaluate {run_copy} --sampler uniform-box" in text
    assert f"vaelab diagnose {run_copy} --sampler uniform-box" in text
    assert text.count(f"vaelab report {run_copy}\n") + text.count(f"vaelab report {run_copy}<") == 1
    elsewhere = run_copy.parent / "page.html"  # the last command writes the page where it was asked for
    assert f"vaelab report {run_copy} --output {elsewhere}" in write_report(run_copy, elsewhere).read_text()


def test_every_text_from_the_run_is_escaped(analysed_run, tmp_path):
    run_dir = shutil.copytree(analysed_run, tmp_path / "run <script>alert(1)</script> & co")
    figure = run_dir / "figures" / "<img src=x onerror=alert(2)>.png"
    shutil.copy(run_dir / "figures" / "generated.png", figure)
    measure(run_dir, sampler="<b>bold</b>")
    text = report_page(run_dir, warn=lambda message: None)
    assert_self_contained(text)
    for raw in ("<script>alert(1)", "<img src=x", "<b>bold", "& co"):
        assert raw not in text
    assert "run &lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in text
    assert "&lt;img src=x onerror=alert(2)&gt;.png" in text and "&lt;b&gt;bold&lt;/b&gt; (epoch 2)" in text


def test_a_run_before_its_first_epoch_without_figures_or_measures_has_a_page(tmp_path):
    config = RunConfig.from_preset("book-vae", device="cpu")
    run = RunDir(tmp_path / "new")
    run.create()
    run.write_config(config)
    run.write_metrics([])
    text = report_page(run.path)
    assert_self_contained(text)
    assert "0 epochs of 5 completed" in text
    assert "encoder 100,868, decoder 246,273, total 347,141" in text
    assert "Nothing measured yet" in text and "No figures in" in text
    assert "no record: <code>model.safetensors</code> is missing" in text


def test_a_figure_that_is_not_a_png_is_left_out_and_named(run_copy):
    (run_copy / "figures" / "latent_scatter.png").write_text("not an image")
    (run_copy / "figures" / "latent_grid.png").mkdir()
    text = report_page(run_copy)
    page = assert_self_contained(text)
    assert len(page.images()) == 3
    assert "latent_scatter.png</code> is not a PNG image; left out." in text
    assert "latent_grid.png</code> is a folder, not a file; left out." in text


def test_a_report_leaves_the_callers_random_numbers_alone(run_copy):
    torch.manual_seed(3)
    report_page(run_copy)
    drawn = torch.rand(2)
    torch.manual_seed(3)
    assert torch.equal(drawn, torch.rand(2))


@pytest.fixture(scope="module")
def vq_run(tmp_path_factory):
    """A vq-vae trained 1 epoch on synthetic images, with a tiny class-conditional prior of 1 epoch."""
    torch.set_num_threads(1)
    run_dir = tmp_path_factory.mktemp("vq") / "vq"
    train_set, test_set = synthetic_images(40, seed=0), synthetic_images(20, seed=1)
    tiny = {"epochs": 1, "batch_size": 20, "lr": 2e-3, "seed": 0, "device": "cpu"}
    train(RunConfig.from_preset("vq-vae", **tiny), run_dir, train_set=train_set, test_set=test_set, **QUIET)
    run = load_run(run_dir, "cpu")
    config = prepare_prior_config(run, epochs=1, channels=8, layers=2, kernel=3, batch_size=20, seed=0)
    train_prior(run, config, train_set=train_set, test_set=test_set, **QUIET)
    return run_dir


def test_a_vq_vae_report_shows_its_prior(vq_run):
    text = report_page(vq_run)
    page = assert_self_contained(text)
    assert "<h2>Prior</h2>" in text and "gated PixelCNN: 8 channels, 2 layers, kernel 3" in text
    assert "the code grids of the weights of epoch 1, the run&#x27;s current ones" in text
    assert "bits per code" in text and len(page.images()) == 2  # the run's curves and the prior's
    assert f"vaelab prior train {vq_run} --seed 0 --channels 8 --layers 2 --epochs 1 --batch-size 20" in text
    assert "latent</th><td>8×8×16" in text


def test_a_prior_of_other_weights_says_so(vq_run, tmp_path):
    run_dir = shutil.copytree(vq_run, tmp_path / "vq")
    config = json.loads((run_dir / "prior" / "config.json").read_text())
    config["vq_weights"]["sha256"] = "0" * 64
    (run_dir / "prior" / "config.json").write_text(json.dumps(config))
    text = report_page(run_dir)
    assert "the code grids of epoch 1, not the run&#x27;s current weights: delete" in text
    assert f"<code>vaelab prior train {run_dir}</code>" in text


def test_measures_of_other_weights_are_marked_and_said(run_copy):
    other = WeightsRecord(1, "0" * 64)
    merge_results(run_copy / "figures" / EVALUATION, "gmm", {"precision": 0.5}, other, warn=lambda message: None)
    warnings: list[str] = []
    text = report_page(run_copy, warn=warnings.append)
    assert "<th>gmm (epoch 1 (not current))</th>" in text and '<td class="number">0.500</td>' in text
    (warning,) = warnings
    assert "were not measured on the weights of epoch 2" in warning and prose(warning) in text


def test_the_command_writes_the_page_and_replaces_only_its_own(capsys, run_copy, tmp_path):
    code, out, _ = run_cli(capsys, "report", str(run_copy))
    assert code == 0 and out == f"wrote {run_copy / REPORT_FILE}\n"
    output = tmp_path / "page.html"
    for _ in range(2):  # a new file, then its own page again
        code, out, _ = run_cli(capsys, "report", str(run_copy), "--output", str(output))
        assert code == 0 and out == f"wrote {output}\n"
    page = output.read_text(encoding="utf-8")  # the same page, but for the command that writes it there
    assert page.count(f" --output {output}") == 1
    assert page.replace(f" --output {output}", "") == (run_copy / REPORT_FILE).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "arguments, fragments",
    [
        (["{tmp}"], ["is not a vaelab run directory"]),
        (["{tmp}/missing"], ["does not exist"]),
        (["{run}", "--output", "{tmp}/no/page.html"], ["/no does not exist", "choose another --output"]),
        (["{run}", "--output", "{tmp}"], ["is a folder", "--output"]),
        (["{run}", "--output", "{tmp}/notes.html"], ["notes.html was not written by vaelab", "move it away"]),
        (["{run}", "--output", "{run}/config.json/page.html"], ["config.json is a file, not a folder"]),
    ],
)
def test_what_cannot_be_reported_is_one_line(capsys, run_copy, tmp_path, arguments, fragments):
    (tmp_path / "notes.html").write_text("<p>my notes</p>")
    words = [word.format(tmp=tmp_path, run=run_copy) for word in arguments]
    code, out, err = run_cli(capsys, "report", *words)
    assert_one_line_error(code, err, 1, *fragments)
    assert out == "" and (tmp_path / "notes.html").read_text() == "<p>my notes</p>"
    assert not (tmp_path / "page.html").exists()


def test_a_damaged_results_file_is_one_line_and_writes_nothing(capsys, run_copy):
    (run_copy / "figures" / EVALUATION).write_text("{not json")
    code, _, err = run_cli(capsys, "report", str(run_copy))
    assert_one_line_error(code, err, 1, "evaluation.json is not valid JSON", "vaelab evaluate")
    assert not (run_copy / REPORT_FILE).exists()


def test_compare_html_holds_the_table_and_each_runs_key_figures(capsys, analysed_run, tmp_path):
    runs = [shutil.copytree(analysed_run, tmp_path / name) for name in ("first", "second")]
    measure(runs[1], sampler="gmm", bce=0.5)
    shutil.copy(runs[0] / "figures" / "generated.png", runs[0] / "figures" / "latent_histograms.png")
    page_path = tmp_path / "out" / "comparison.html"  # in the folder compare creates
    code, out, _ = run_cli(
        capsys, "compare", *map(str, runs), "--output", str(tmp_path / "out"), "--html", str(page_path)
    )
    assert code == 0
    assert out.splitlines()[-3:] == [
        f"wrote {page_path}",
        *(f"wrote {tmp_path / 'out' / name}" for name in (MARKDOWN_FILE, CSV_FILE)),
    ]
    text = page_path.read_text(encoding="utf-8")
    page = assert_self_contained(text)
    assert "<h1>vaelab compare: 2 runs</h1>" in text
    assert text.count("<h2>book-ae: <code>") == 2 and "<th>recon BCE/px</th>" in text
    assert '<td class="number">0.2500</td>' in text and '<td class="number">0.5000</td>' in text
    for run in runs:  # the key figures, not the histograms
        assert (run / "figures" / "generated.png").read_bytes() in page.images()
    assert "latent_histograms.png" not in text
    assert len(page.images()) == 2 * 3  # per run: the loss curves, generated and reconstructions


def test_compare_refuses_a_foreign_html_file_before_writing(capsys, analysed_run, tmp_path):
    (tmp_path / "mine.html").write_text("<p>mine</p>")
    code, _, err = run_cli(
        capsys, "compare", str(analysed_run), "--output", str(tmp_path / "out"), "--html", str(tmp_path / "mine.html")
    )
    assert_one_line_error(code, err, 1, "mine.html was not written by vaelab", "choose another --html")
    assert not (tmp_path / "out").exists()  # refused before --output was created
    code, _, err = run_cli(
        capsys,
        "compare",
        str(analysed_run),
        "--output",
        str(tmp_path / "out"),
        "--html",
        str(tmp_path / "no" / "c.html"),
    )
    assert_one_line_error(code, err, 1, "does not exist", "create the folder first")
    assert not (tmp_path / "out").exists()


# The pages in a real browser.

needs_chromium = pytest.mark.skipif(find_chromium() is None, reason=MISSING)


@pytest.fixture(scope="module")
def chromium():
    with Chromium(find_chromium()) as browser:
        yield browser


@pytest.fixture(scope="module")
def pages(analysed_run, vq_run, tmp_path_factory):
    """A run's report, a vq-vae's report, and a comparison's page."""
    folder = tmp_path_factory.mktemp("pages")
    vq_measured = shutil.copytree(vq_run, folder / "vq")
    measure(vq_measured, sampler="prior")
    written = {
        "report": write_report(analysed_run, folder / "report.html"),
        "vq-vae report": write_report(vq_measured, folder / "vq.html"),
    }
    write_comparison([analysed_run, vq_measured], folder, warn=lambda m: None, html=folder / "compare.html")
    return {**written, "compare --html": folder / "compare.html"}


@pytest.mark.slow
@needs_chromium
@pytest.mark.parametrize("name", ["report", "vq-vae report", "compare --html"])
def test_the_page_opens_in_chromium_offline_without_errors_or_requests(chromium, pages, name):
    visit = chromium.visit(pages[name])
    assert visit.errors == []
    assert visit.outside_requests() == []
    assert visit.requests[0] == visit.url and len(visit.requests) > 1  # the page, then its inline images
    assert visit.screenshot_colours() > 16  # not blank: text, tables and figures


@pytest.mark.slow
@needs_chromium
def test_the_browser_check_sees_requests_and_errors(chromium, tmp_path):
    """The check above is not blind: a page that fetches and fails is caught, blocked network and all."""
    page = tmp_path / "leaky.html"
    page.write_text(
        '<!DOCTYPE html><html><body><img src="https://example.com/a.png"><img src="http://192.0.2.1/b.png">'
        "<script>console.error('seen'); missingFunction();</script></body></html>"
    )
    visit = chromium.visit(page)
    assert visit.outside_requests() == ["https://example.com/a.png", "http://192.0.2.1/b.png"]
    assert "console: seen" in visit.errors
    assert any("missingFunction is not defined" in error for error in visit.errors)
    assert any("ERR_INTERNET_DISCONNECTED" in error for error in visit.errors)  # offline: nothing got out
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    assert chromium.visit(blank).screenshot_colours() == 1
