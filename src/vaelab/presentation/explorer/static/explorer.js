// vaelab latent-space explorer: draws the scatter from /api/points and asks the server for images
// (/api/decode, /api/image/{i}, /api/morph). Plain JavaScript, no libraries, nothing from the network
// but this server. A conditional model (`conditional` of /api/run) decodes the cursor's point under the
// class chosen in the "decode as" selector (/api/decode?class=K). The samples panel shows new images
// drawn by the run's sampler (/api/samples?seed=S; "new samples" takes the next seed; a run that cannot draw
// yet shows `sampler_note` of /api/run instead). A model with
// discrete codes (`discrete_codes` of /api/run: vq-vae) also gets its codebook (/api/codebook): each
// code's use as a histogram, and its code vectors as a second set of points for the plane.
"use strict";

(() => {
  // Matplotlib's tab10, the colours of vaelab's scatter figures.
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  const UNLABELLED = "#1f77b4";
  const MODEL_NAMES = {
    ae: "autoencoder", vae: "variational autoencoder", cvae: "conditional VAE", "vq-vae": "vector-quantised autoencoder",
  };
  const CODE_COLOUR = "#d62728";   // the code vectors' points and the usage histogram's bars
  const PICK_RADIUS = 8;           // CSS pixels around a point that a click still picks it
  const SHARP_UP_TO = 32;          // image width (pixels) up to which the page enlarges images without smoothing
  const MARGIN = { left: 52, right: 12, top: 12, bottom: 32 };

  const $ = (id) => document.getElementById(id);
  const state = {
    points: null,       // the JSON of /api/points
    facts: null,        // the JSON of /api/run
    codebook: null,     // the JSON of /api/codebook (a model with discrete codes only)
    codeMost: 1,        // the most any code is used
    mode: "images",     // the points shown: "images" (the test images) or "codebook" (the code vectors)
    sampleSeed: 0,      // the seed of the samples shown
    hidden: new Set(),  // class indices not drawn
    selected: null,     // index of the clicked point
    second: null,       // index of the shift-clicked point (morph end)
    cursor: null,       // plane coordinates under the mouse
    linkPoint: null,    // the plane point the address keeps (x, y): the last one decoded for the user
    view: null,         // plane → canvas mapping
    scatterContext: null,
    overlayContext: null,
  };

  // ---- fetching --------------------------------------------------------------------------------

  async function errorMessage(response) {
    try {
      const body = await response.json();
      return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    } catch (e) {
      return `${response.status} ${response.statusText}`;
    }
  }

  async function getJSON(url) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(await errorMessage(response));
    return response.json();
  }

  // Shows the PNG at `url` in <img> `img` (replacing and freeing the previous one).
  async function showPNG(img, url) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(await errorMessage(response));
    const blob = await response.blob();
    if (img.dataset.objectUrl) URL.revokeObjectURL(img.dataset.objectUrl);
    img.dataset.objectUrl = URL.createObjectURL(blob);
    img.src = img.dataset.objectUrl;
    img.hidden = false;
  }

  function showError(error) {
    const box = $("error");
    box.textContent = String(error && error.message ? error.message : error);
    box.hidden = false;
  }

  // ---- the plane -------------------------------------------------------------------------------

  function canvasSize() {
    const fit = Math.min(window.innerWidth - 420, window.innerHeight - 170);
    return Math.max(360, Math.min(680, Math.floor(fit)));
  }

  // A square plot with equal scales on both axes, centred on the points' bounds.
  function makeView(bounds, size) {
    const [x0, x1] = bounds.x, [y0, y1] = bounds.y;
    const span = Math.max(x1 - x0, y1 - y0);
    const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    const inner = size - Math.max(MARGIN.left + MARGIN.right, MARGIN.top + MARGIN.bottom);
    return {
      size, inner,
      xmin: cx - span / 2, xmax: cx + span / 2, ymin: cy - span / 2, ymax: cy + span / 2,
      left: MARGIN.left, top: MARGIN.top,
    };
  }

  function toCanvas(v, x, y) {
    return [v.left + (x - v.xmin) / (v.xmax - v.xmin) * v.inner,
            v.top + (v.ymax - y) / (v.ymax - v.ymin) * v.inner];
  }

  function toPlane(v, px, py) {
    return [v.xmin + (px - v.left) / v.inner * (v.xmax - v.xmin),
            v.ymax - (py - v.top) / v.inner * (v.ymax - v.ymin)];
  }

  function insidePlot(v, px, py) {
    return px >= v.left && px <= v.left + v.inner && py >= v.top && py <= v.top + v.inner;
  }

  // About `count` round tick values (1, 2 or 5 × 10^k apart) between lo and hi.
  function niceTicks(lo, hi, count) {
    const raw = (hi - lo) / count;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
    const ticks = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
    return ticks;
  }

  // Sizes `canvas` to width × height CSS pixels (a square of `width` without a height) at the screen's resolution.
  function setupCanvas(canvas, width, height = width) {
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return ctx;
  }

  function colourOf(i) {
    const labels = state.points.labels;
    return labels ? PALETTE[labels[i] % PALETTE.length] : UNLABELLED;
  }

  function visible(i) {
    const labels = state.points.labels;
    return !labels || !state.hidden.has(labels[i]);
  }

  function drawAxes(ctx, v) {
    ctx.strokeStyle = "#999";
    ctx.lineWidth = 1;
    ctx.strokeRect(v.left + 0.5, v.top + 0.5, v.inner, v.inner);
    ctx.fillStyle = "#555";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const t of niceTicks(v.xmin, v.xmax, 6)) {
      const [px] = toCanvas(v, t, v.ymin);
      ctx.fillRect(px, v.top + v.inner, 1, 4);
      ctx.fillText(formatNumber(t), px, v.top + v.inner + 6);
    }
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const t of niceTicks(v.ymin, v.ymax, 6)) {
      const [, py] = toCanvas(v, v.xmin, t);
      ctx.fillRect(v.left - 4, py, 4, 1);
      ctx.fillText(formatNumber(t), v.left - 6, py);
    }
  }

  function drawScatter() {
    const v = state.view;
    const ctx = state.scatterContext;
    ctx.clearRect(0, 0, v.size, v.size);
    drawAxes(ctx, v);
    ctx.save();
    ctx.beginPath();
    ctx.rect(v.left, v.top, v.inner, v.inner);
    ctx.clip();
    if (state.mode === "codebook") drawCodeVectors(ctx, v); else drawImagePoints(ctx, v);
    ctx.restore();
    drawOverlay();
  }

  function drawImagePoints(ctx, v) {
    const p = state.points;
    ctx.globalAlpha = 0.75;
    const radius = p.count > 2000 ? 1.6 : 2.5;
    for (let i = 0; i < p.count; i++) {
      if (!visible(i)) continue;
      const [px, py] = toCanvas(v, p.x[i], p.y[i]);
      ctx.fillStyle = colourOf(i);
      ctx.beginPath();
      ctx.arc(px, py, radius, 0, 2 * Math.PI);
      ctx.fill();
    }
  }

  // The radius of code k's point: its area grows with the code's use; an unused code is a small ring.
  function codeRadius(k) {
    const n = state.codebook.counts[k];
    return n > 0 ? 2 + 9 * Math.sqrt(n / state.codeMost) : 2.5;
  }

  function drawCodeVectors(ctx, v) {
    const c = state.codebook;
    ctx.lineWidth = 1;
    for (let k = 0; k < c.codebook_size; k++) {
      const [px, py] = toCanvas(v, c.x[k], c.y[k]);
      ctx.beginPath();
      ctx.arc(px, py, codeRadius(k), 0, 2 * Math.PI);
      if (c.counts[k] > 0) {
        ctx.globalAlpha = 0.55;
        ctx.fillStyle = CODE_COLOUR;
        ctx.fill();
      } else {
        ctx.globalAlpha = 0.8;
        ctx.strokeStyle = "#888";
        ctx.stroke();
      }
    }
  }

  function ring(ctx, i, label) {
    const [px, py] = toCanvas(state.view, state.points.x[i], state.points.y[i]);
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.arc(px, py, 6, 0, 2 * Math.PI);
    ctx.stroke();
    ctx.fillStyle = "#000";
    ctx.font = "bold 12px system-ui, sans-serif";
    ctx.textAlign = "left";
    ctx.textBaseline = "bottom";
    ctx.fillText(label, px + 7, py - 5);
    return [px, py];
  }

  // Crosshair at the cursor, rings on the selected points, the line between them.
  function drawOverlay() {
    const v = state.view;
    const ctx = state.overlayContext;
    ctx.clearRect(0, 0, v.size, v.size);
    if (state.selected !== null && state.mode === "images") {
      const a = ring(ctx, state.selected, "A");
      if (state.second !== null) {
        const b = ring(ctx, state.second, "B");
        ctx.setLineDash([4, 3]);
        ctx.beginPath();
        ctx.moveTo(a[0], a[1]);
        ctx.lineTo(b[0], b[1]);
        ctx.stroke();
        ctx.setLineDash([]);
      }
    }
    if (state.cursor) {
      const [px, py] = toCanvas(v, state.cursor[0], state.cursor[1]);
      ctx.strokeStyle = "rgba(0, 0, 0, 0.45)";
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(v.left, py + 0.5);
      ctx.lineTo(v.left + v.inner, py + 0.5);
      ctx.moveTo(px + 0.5, v.top);
      ctx.lineTo(px + 0.5, v.top + v.inner);
      ctx.stroke();
    }
  }

  function drawLegend() {
    const legend = $("legend");
    legend.replaceChildren();
    const p = state.points;
    if (!p.labels) {
      const item = document.createElement("li");
      item.textContent = "no class labels in this dataset";
      legend.append(item);
      return;
    }
    const counts = new Array(p.class_names.length).fill(0);
    for (const label of p.labels) counts[label] += 1;
    p.class_names.forEach((name, k) => {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = PALETTE[k % PALETTE.length];
      item.append(swatch, `${name} (${counts[k]})`);
      item.classList.toggle("off", state.hidden.has(k));
      item.addEventListener("click", () => {
        if (state.hidden.has(k)) state.hidden.delete(k); else state.hidden.add(k);
        item.classList.toggle("off", state.hidden.has(k));
        drawScatter();
      });
      legend.append(item);
    });
  }

  // ---- decoding under the mouse: at most one request in flight, always the latest point ---------

  const decoder = { inFlight: false, next: null, last: null };

  // `&class=K` for a conditional model (the selector's class), nothing otherwise.
  function classQuery() {
    return state.facts && state.facts.conditional ? `&class=${encodeURIComponent($("decode-class").value)}` : "";
  }

  function classCaption() {
    if (!state.facts || !state.facts.conditional) return "";
    const select = $("decode-class");
    return ` as ${select.options[select.selectedIndex].text}`;
  }

  // Decodes (x, y) once the request in flight is answered. `linked`: the point is the user's (the cursor's,
  // or the address's), which the address keeps; the plane's centre decoded at start is not.
  function requestDecode(x, y, linked = true) {
    if (linked) state.linkPoint = [x, y];
    decoder.next = [x, y];
    if (!decoder.inFlight) pumpDecode();
  }

  async function pumpDecode() {
    if (!decoder.next) return;
    const [x, y] = decoder.next;
    decoder.next = null;
    decoder.last = [x, y];
    decoder.inFlight = true;
    try {
      await showPNG($("decoded"), `/api/decode?x=${x}&y=${y}${classQuery()}`);
      $("cursor-coords").textContent = `(${formatNumber(x, 3)}, ${formatNumber(y, 3)})${classCaption()}`;
    } catch (error) {
      $("cursor-coords").textContent = error.message;
    } finally {
      decoder.inFlight = false;
      if (decoder.next) pumpDecode();
    }
  }

  // ---- clicking points -------------------------------------------------------------------------

  function nearestPoint(px, py) {
    const p = state.points;
    let best = null, bestDistance = PICK_RADIUS * PICK_RADIUS;
    for (let i = 0; i < p.count; i++) {
      if (!visible(i)) continue;
      const [qx, qy] = toCanvas(state.view, p.x[i], p.y[i]);
      const d = (qx - px) * (qx - px) + (qy - py) * (qy - py);
      if (d <= bestDistance) { best = i; bestDistance = d; }
    }
    return best;
  }

  function describe(i) {
    const p = state.points;
    const label = p.labels ? `${p.class_names[p.labels[i]]}, ` : "";
    return `test image ${p.indices[i]} (${label}at ${formatNumber(p.x[i], 3)}, ${formatNumber(p.y[i], 3)})`;
  }

  async function selectPoint(i) {
    state.selected = i;
    state.second = null;
    updateLink();
    drawOverlay();
    $("point-info").textContent = `${describe(i)}: the image, then its reconstruction`;
    $("morph-info").textContent = "Shift-click another point to morph from A to it.";
    $("morph").hidden = true;
    try {
      await showPNG($("pair"), `/api/image/${state.points.indices[i]}`);
    } catch (error) {
      $("point-info").textContent = error.message;
    }
  }

  async function showMorph() {
    if (state.selected === null || state.second === null) return;
    const p = state.points;
    const steps = $("steps").value;
    const method = $("method").value;
    const url = `/api/morph?start=${p.indices[state.selected]}&end=${p.indices[state.second]}` +
                `&steps=${encodeURIComponent(steps)}&method=${encodeURIComponent(method)}`;
    try {
      await showPNG($("morph"), url);
      $("morph-info").textContent = `A = ${describe(state.selected)} → B = ${describe(state.second)}, ` +
        `${steps} steps, ${method}; the ends are the reconstructions`;
    } catch (error) {
      $("morph-info").textContent = error.message;
    }
  }

  function onClick(event) {
    if (state.mode !== "images") return;
    const i = nearestPoint(event.offsetX, event.offsetY);
    if (i === null) return;
    if (event.shiftKey && state.selected !== null && i !== state.selected) {
      state.second = i;
      updateLink();
      drawOverlay();
      showMorph();
    } else {
      selectPoint(i);
    }
  }

  function onMove(event) {
    const v = state.view;
    if (!insidePlot(v, event.offsetX, event.offsetY)) return;
    state.cursor = toPlane(v, event.offsetX, event.offsetY);
    drawOverlay();
    if (state.mode === "codebook") describeCodeAt(event.offsetX, event.offsetY);
    else requestDecode(state.cursor[0], state.cursor[1]);
  }

  // ---- facts -----------------------------------------------------------------------------------

  function formatNumber(value, digits = 4) {
    if (value === null || value === undefined) return "–";
    if (Number.isInteger(value)) return String(value);
    return Number(value.toPrecision(digits)).toString();
  }

  function showFacts(f) {
    $("run-name").textContent = f.run_dir;
    document.title = `vaelab explorer: ${f.name}`;
    const rows = [
      ["preset", f.preset],
      ["model", MODEL_NAMES[f.kind] || f.kind],
      ["dataset", f.dataset],
      ["latent dimensions", f.discrete_codes ? `${f.code_shape.reduce((a, b) => a * b)} (a grid of code vectors)`
        : f.latent_dim],
      ["image", f.image_shape.join(" × ")],
      // the weights served: those loaded when the explorer started, whatever the run holds by now
      ["weights of epoch", `${f.epochs_trained === null ? "unknown" : f.epochs_trained} of ${f.epochs_configured}`],
      ["val loss", f.final_val ? formatNumber(f.final_val.loss, 5)
        : (f.epochs_trained === null ? "–" : "not in metrics.jsonl")],
    ];
    if (f.final_val && f.final_val.neg_elbo_nats !== undefined) {
      rows.push(["val −ELBO", `${formatNumber(f.final_val.neg_elbo_nats, 5)} nats/image`]);
    }
    if (f.weights_changed && f.note) rows.push(["weights on disk", f.note]);
    rows.push(["points shown", `first ${f.points} test images`]);
    const pr = f.projection;
    const shares = `${pr.explained_variance.map((e) => `${(100 * e).toFixed(0)}%`).join(" + ")} of variance`;
    rows.push(["plane", pr.method !== "pca" ? "the latent space itself"
      : f.discrete_codes ? `PCA of each image's grid of code vectors (${shares})` : `PCA of z (${shares})`]);
    if (f.discrete_codes) {
      const [d, h, w] = f.code_shape;
      rows.push(["codes", `${h} × ${w} per image, from ${f.codebook_size} code vectors of ${d} numbers`]);
    }
    rows.push(["sampler", f.sampler === null ? "none yet" : f.sampler]);
    const list = $("facts");
    list.replaceChildren();
    for (const [term, value] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = term;
      const dd = document.createElement("dd");
      dd.textContent = String(value);
      list.append(dt, dd);
    }
    const grey = f.image_shape[0] === 1;
    $("ink").parentElement.hidden = !grey;
    document.body.classList.toggle("ink", grey && $("ink").checked);
    // images over SHARP_UP_TO pixels wide are smoothed when the page resizes them (explorer.css)
    document.body.classList.toggle("smooth", f.image_shape[2] > SHARP_UP_TO);
  }

  // ---- start -----------------------------------------------------------------------------------

  function layout() {
    const shown = state.mode === "codebook" ? state.codebook : state.points;
    state.view = makeView(shown.bounds, canvasSize());
    state.scatterContext = setupCanvas($("scatter"), state.view.size);
    state.overlayContext = setupCanvas($("overlay"), state.view.size);
    drawScatter();
  }

  async function start() {
    try {
      [state.facts, state.points] = await Promise.all([getJSON("/api/run"), getJSON("/api/points")]);
    } catch (error) {
      showError(`could not load the run from the explorer server: ${error.message}`);
      return;
    }
    showFacts(state.facts);
    drawLegend();
    setUpClassChoice();
    describePlane();
    layout();
    const overlay = $("overlay");
    overlay.addEventListener("mousemove", onMove);
    overlay.addEventListener("click", onClick);
    // leaving the plot puts the point decoded last in the address (not while hovering: browsers throttle
    // history updates, and an address that changed on every move would be of no use)
    overlay.addEventListener("mouseleave", () => { state.cursor = null; drawOverlay(); updateLink(); });
    $("steps").addEventListener("change", showMorph);
    $("method").addEventListener("change", showMorph);
    $("ink").addEventListener("change", () => showFacts(state.facts));
    $("new-samples").addEventListener("click", () => showSamples(state.sampleSeed + 1));
    window.addEventListener("resize", layout);
    const params = new URLSearchParams(window.location.search);
    if (state.facts.sampler === null) cannotSample(); else showSamples(0);
    if (state.facts.discrete_codes) await setUpCodebook(params.get("view") === "codebook");
    applyLink(params);
  }

  // A conditional model: the selector of the class the cursor's point is decoded under.
  function setUpClassChoice() {
    if (!state.facts.conditional) return;
    const select = $("decode-class");
    state.points.class_names.forEach((name, k) => select.append(new Option(`${k} ${name}`, String(k))));
    $("class-choice").hidden = false;
    select.addEventListener("change", () => { if (decoder.last) requestDecode(decoder.last[0], decoder.last[1]); });
  }

  // ---- samples: new images from the run's sampler, seeded ---------------------------------------

  async function showSamples(seed) {
    const f = state.facts;
    const button = $("new-samples");
    button.disabled = true;
    $("samples-info").textContent = "Drawing…";
    try {
      await showPNG($("samples"), `/api/samples?seed=${seed}`);
      state.sampleSeed = seed;
      const from = f.discrete_codes ? "code grids drawn from the learnt prior (a PixelCNN), decoded"
        : `points drawn by the ${f.sampler} sampler, decoded`;
      $("samples-info").textContent = `${from}; seed ${seed}`;
      button.disabled = false;
    } catch (error) {
      $("samples").hidden = true;
      $("samples-info").textContent = error.message;
      button.disabled = false;  // the line says what went wrong (a run that cannot draw at all: cannotSample)
    }
  }

  // A run that cannot draw yet (a vq-vae without a prior): the facts' line saying what to run, and no request
  // for samples that would only be refused (409).
  function cannotSample() {
    $("samples").hidden = true;
    $("samples-info").textContent = state.facts.sampler_note || "This run cannot draw samples.";
    $("new-samples").disabled = true;
  }

  // ---- a model with discrete codes: its codebook -----------------------------------------------

  async function setUpCodebook(showCodes) {
    try {
      state.codebook = await getJSON("/api/codebook");
      state.codeMost = state.codebook.counts.reduce((a, b) => Math.max(a, b), 1);
    } catch (error) {
      showError(`could not load the codebook: ${error.message}`);
      return;
    }
    $("codebook-panel").hidden = false;
    drawUsage();
    $("view-choice").hidden = false;
    for (const radio of document.querySelectorAll('input[name="view"]')) {
      radio.checked = radio.value === (showCodes ? "codebook" : "images");
      radio.addEventListener("change", () => { if (radio.checked) setMode(radio.value); });
    }
    if (showCodes) setMode("codebook");
  }

  // Shows the test images or the code vectors in the plane.
  function setMode(mode) {
    state.mode = mode;
    state.cursor = null;
    $("legend").hidden = mode === "codebook";
    $("code-info").hidden = mode !== "codebook";
    $("code-info").textContent = "Move over a code vector to see its use.";
    describePlane();
    updateLink();
    layout();
  }

  // What the plane's axes and points are.
  function describePlane() {
    const f = state.facts;
    const labels = state.mode === "codebook" ? state.codebook.axis_labels : state.points.axis_labels;
    $("axis-labels").textContent = `horizontal: ${labels[0]} · vertical: ${labels[1]}`;
    const note = $("plane-note");
    note.hidden = !f.discrete_codes;
    if (!f.discrete_codes) return;
    const [d, h, w] = f.code_shape;
    note.textContent = state.mode === "codebook"
      ? `Each point is one of the ${f.codebook_size} code vectors (${d} numbers each), in the plane of their ` +
        `first two principal components; its area grows with its use over the ${state.codebook.images} ` +
        "embedded test images (a ring: never used). Nothing is decoded here."
      : `Each point is a test image: the plane is the PCA of its ${h} × ${w} grid of code vectors ` +
        `(${d} numbers each), flattened to ${d * h * w} numbers. The cursor decodes the code vector nearest ` +
        "to the point's at each position of the grid.";
  }

  function describeCodeAt(px, py) {
    const c = state.codebook;
    let best = null, bestDistance = Infinity;
    for (let k = 0; k < c.codebook_size; k++) {
      const [qx, qy] = toCanvas(state.view, c.x[k], c.y[k]);
      const d = Math.hypot(qx - px, qy - py);
      if (d <= Math.max(PICK_RADIUS, codeRadius(k)) && d < bestDistance) { best = k; bestDistance = d; }
    }
    $("code-info").textContent = best === null ? "Move over a code vector to see its use."
      : `code ${best}: chosen at ${c.counts[best]} of ${c.positions} grid positions ` +
        `(${formatNumber(100 * c.counts[best] / c.positions, 3)}%)`;
  }

  // Each code's use, codes sorted from the most used to the least.
  function drawUsage() {
    const c = state.codebook;
    const width = 320, height = 130, left = 36, bottom = 18, top = 6;
    const ctx = setupCanvas($("usage"), width, height);
    const counts = [...c.counts].sort((a, b) => b - a);
    const most = state.codeMost;
    const inner = width - left - 4, tall = height - top - bottom;
    const bar = inner / counts.length;
    ctx.fillStyle = CODE_COLOUR;
    counts.forEach((n, i) => {
      const h = tall * n / most;
      ctx.fillRect(left + i * bar, top + tall - h, Math.max(bar - (bar > 3 ? 1 : 0), 0.5), h);
    });
    ctx.strokeStyle = "#999";
    ctx.strokeRect(left + 0.5, top + 0.5, inner, tall);
    ctx.fillStyle = "#555";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    ctx.fillText(String(most), left - 4, top + 4);
    ctx.fillText("0", left - 4, top + tall);
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    ctx.fillText(`${c.codebook_size} codes, most used first`, left, top + tall + 4);
    $("usage-info").textContent = `${c.used} of ${c.codebook_size} codes used at the ${c.positions} grid positions ` +
      `of the ${c.images} embedded test images; perplexity ${formatNumber(c.perplexity, 4)} ` +
      `(${c.codebook_size} if all were used equally)`;
  }

  // ---- links: ?a=TEST_INDEX&b=TEST_INDEX&x=X&y=Y reopens a view ---------------------------------
  // a and b: the clicked and shift-clicked test images; x, y: the plane point decoded last (the cursor's when
  // the mouse left the plot, or at a click); view=codebook: the code vectors shown.

  function pointOf(params, name) {
    if (!params.has(name)) return null;
    const i = state.points.indices.indexOf(Number(params.get(name)));
    return i >= 0 ? i : null;
  }

  async function applyLink(params) {
    const [x0, x1] = state.points.bounds.x, [y0, y1] = state.points.bounds.y;
    const x = Number(params.get("x")), y = Number(params.get("y"));
    const linked = params.has("x") && params.has("y") && Number.isFinite(x) && Number.isFinite(y);
    if (linked && state.mode === "images") {
      state.cursor = [x, y];
      drawOverlay();
    }
    if (linked) requestDecode(x, y); else requestDecode((x0 + x1) / 2, (y0 + y1) / 2, false);
    const a = pointOf(params, "a"), b = pointOf(params, "b");
    if (a === null) {
      updateLink();
      return;
    }
    await selectPoint(a);
    if (b !== null && b !== a) {
      state.second = b;
      updateLink();
      drawOverlay();
      await showMorph();
    }
  }

  // A coordinate of the test images' plane for the address: rounded to a tenth of a pixel of the plot, so
  // the link is short and reopens the same point within a pixel.
  function linkNumber(value) {
    const v = makeView(state.points.bounds, canvasSize());
    const pixel = (v.xmax - v.xmin) / v.inner;
    const decimals = Math.min(15, Math.max(0, Math.ceil(-Math.log10(pixel / 10))));
    return String(Number(value.toFixed(decimals)));
  }

  function updateLink() {
    const p = state.points, params = new URLSearchParams();
    if (state.selected !== null) params.set("a", p.indices[state.selected]);
    if (state.second !== null) params.set("b", p.indices[state.second]);
    if (state.linkPoint) {
      params.set("x", linkNumber(state.linkPoint[0]));
      params.set("y", linkNumber(state.linkPoint[1]));
    }
    if (state.mode === "codebook") params.set("view", "codebook");
    const query = params.toString();
    window.history.replaceState(null, "", query ? `?${query}` : window.location.pathname);
  }

  start();
})();
