// vaelab latent-space explorer: draws the scatter from /api/points and asks the server for images
// (/api/decode, /api/image/{i}, /api/morph). Plain JavaScript, no libraries, nothing from the network
// but this server. A conditional model (`conditional` of /api/run) decodes the cursor's point under the
// class chosen in the "decode as" selector (/api/decode?class=K).
"use strict";

(() => {
  // Matplotlib's tab10, the colours of vaelab's scatter figures.
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  const UNLABELLED = "#1f77b4";
  const MODEL_NAMES = { ae: "autoencoder", vae: "variational autoencoder", cvae: "conditional VAE" };
  const PICK_RADIUS = 8;           // CSS pixels around a point that a click still picks it
  const MARGIN = { left: 52, right: 12, top: 12, bottom: 32 };

  const $ = (id) => document.getElementById(id);
  const state = {
    points: null,       // the JSON of /api/points
    facts: null,        // the JSON of /api/run
    hidden: new Set(),  // class indices not drawn
    selected: null,     // index of the clicked point
    second: null,       // index of the shift-clicked point (morph end)
    cursor: null,       // plane coordinates under the mouse
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

  function setupCanvas(canvas, size) {
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(size * ratio);
    canvas.height = Math.round(size * ratio);
    canvas.style.width = `${size}px`;
    canvas.style.height = `${size}px`;
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
    const p = state.points;
    const v = state.view;
    const ctx = state.scatterContext;
    ctx.clearRect(0, 0, v.size, v.size);
    drawAxes(ctx, v);
    ctx.save();
    ctx.beginPath();
    ctx.rect(v.left, v.top, v.inner, v.inner);
    ctx.clip();
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
    ctx.restore();
    drawOverlay();
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
    if (state.selected !== null) {
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

  function requestDecode(x, y) {
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
    requestDecode(state.cursor[0], state.cursor[1]);
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
      ["latent dimensions", f.latent_dim],
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
    rows.push(["plane", pr.method === "pca"
      ? `PCA of z (${pr.explained_variance.map((e) => `${(100 * e).toFixed(0)}%`).join(" + ")} of variance)`
      : "the latent space itself"]);
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
  }

  // ---- start -----------------------------------------------------------------------------------

  function layout() {
    state.view = makeView(state.points.bounds, canvasSize());
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
    $("axis-labels").textContent = `horizontal: ${state.points.axis_labels[0]} · vertical: ${state.points.axis_labels[1]}`;
    drawLegend();
    setUpClassChoice();
    layout();
    const overlay = $("overlay");
    overlay.addEventListener("mousemove", onMove);
    overlay.addEventListener("click", onClick);
    overlay.addEventListener("mouseleave", () => { state.cursor = null; drawOverlay(); });
    $("steps").addEventListener("change", showMorph);
    $("method").addEventListener("change", showMorph);
    $("ink").addEventListener("change", () => showFacts(state.facts));
    window.addEventListener("resize", layout);
    applyLink(new URLSearchParams(window.location.search));
  }

  // A conditional model: the selector of the class the cursor's point is decoded under.
  function setUpClassChoice() {
    if (!state.facts.conditional) return;
    const select = $("decode-class");
    state.points.class_names.forEach((name, k) => select.append(new Option(`${k} ${name}`, String(k))));
    $("class-choice").hidden = false;
    select.addEventListener("change", () => { if (decoder.last) requestDecode(decoder.last[0], decoder.last[1]); });
  }

  // ---- links: ?a=TEST_INDEX&b=TEST_INDEX&x=X&y=Y reopens a view ---------------------------------

  function pointOf(params, name) {
    if (!params.has(name)) return null;
    const i = state.points.indices.indexOf(Number(params.get(name)));
    return i >= 0 ? i : null;
  }

  async function applyLink(params) {
    const [x0, x1] = state.points.bounds.x, [y0, y1] = state.points.bounds.y;
    const x = Number(params.get("x")), y = Number(params.get("y"));
    const linked = params.has("x") && params.has("y") && Number.isFinite(x) && Number.isFinite(y);
    if (linked) {
      state.cursor = [x, y];
      drawOverlay();
    }
    requestDecode(linked ? x : (x0 + x1) / 2, linked ? y : (y0 + y1) / 2);
    const a = pointOf(params, "a"), b = pointOf(params, "b");
    if (a === null) return;
    await selectPoint(a);
    if (b !== null && b !== a) {
      state.second = b;
      drawOverlay();
      await showMorph();
    }
  }

  function updateLink() {
    const p = state.points, params = new URLSearchParams();
    if (state.selected !== null) params.set("a", p.indices[state.selected]);
    if (state.second !== null) params.set("b", p.indices[state.second]);
    const query = params.toString();
    window.history.replaceState(null, "", query ? `?${query}` : window.location.pathname);
  }

  start();
})();
