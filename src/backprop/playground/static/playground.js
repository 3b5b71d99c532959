// backprop playground: draws what the server sends. Every number shown is the server's text;
// the page computes colours, positions and sizes only.
"use strict";

const ORANGE = [245, 147, 34];
const WHITE = [232, 234, 235];
const BLUE = [8, 119, 189];
// Three classes or more: one colour a class, Okabe and Ito's eight, told apart with any colour vision.
const PALETTE = [
  [230, 159, 0], [86, 180, 233], [0, 158, 115], [240, 228, 66],
  [0, 114, 178], [213, 94, 0], [204, 121, 167], [0, 0, 0],
];

const page = {
  state: null,
  trace: null,
  selection: null, // {kind: "neuron", layer, unit} or {kind: "edge", layer, from, to}
  playing: false,
  stepsPerFrame: 1,
  busy: false,
};

const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------------ talking to the server

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  const value = await response.json();
  if (!response.ok) {
    throw new Error(value.error || `${response.status} ${response.statusText}`);
  }
  return value;
}

function showError(error) {
  const box = $("message");
  box.textContent = error.message || String(error);
  box.hidden = false;
}

function clearError() {
  $("message").hidden = true;
}

async function act(action) {
  // One request at a time, in order: the page never shows a mixture of two states.
  while (page.busy) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  page.busy = true;
  try {
    const result = await action();
    clearError();
    return result;
  } catch (error) {
    showError(error);
    return null;
  } finally {
    page.busy = false;
  }
}

async function configure(changes) {
  const state = await act(() => api("/api/config", changes));
  if (state) {
    await show(state);
  } else if (page.state) {
    fillControls(page.state); // put the control back to the setting in force
  }
}

// ------------------------------------------------------------------ colours and pictures

function colour(byte) {
  // 0 → orange, 128 → white, 255 → blue, as TensorFlow Playground.
  const t = byte / 255;
  const [from, to, s] = t < 0.5 ? [ORANGE, WHITE, t * 2] : [WHITE, BLUE, (t - 0.5) * 2];
  return from.map((c, i) => Math.round(c + (to[i] - c) * s));
}

function decode(base64) {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i += 1) bytes[i] = text.charCodeAt(i);
  return bytes;
}

function blank(size) {
  // A size × size canvas, its context and an image to fill.
  const canvas = document.createElement("canvas");
  canvas.width = size;
  canvas.height = size;
  const context = canvas.getContext("2d");
  return [canvas, context, context.createImageData(size, size)];
}

function classPicture(classes, confidence, size, k) {
  // Each cell: its predicted class's colour, from white (a guess, probability 1/k) to the colour (certain).
  const [canvas, context, image] = blank(size);
  const which = decode(classes);
  const sure = decode(confidence);
  for (let i = 0; i < which.length; i += 1) {
    const t = Math.max(0, Math.min(1, (sure[i] / 255 - 1 / k) / (1 - 1 / k))) * 0.8;
    const [r, g, b] = WHITE.map((c, n) => Math.round(c + (PALETTE[which[i]][n] - c) * t));
    image.data.set([r, g, b, 255], i * 4);
  }
  context.putImageData(image, 0, 0);
  return canvas;
}

function picture(base64, size) {
  const [canvas, context, image] = blank(size);
  const bytes = decode(base64);
  for (let i = 0; i < bytes.length; i += 1) {
    const [r, g, b] = colour(bytes[i]);
    image.data.set([r, g, b, 255], i * 4);
  }
  context.putImageData(image, 0, 0);
  return canvas;
}

// ------------------------------------------------------------------ the controls

function fillSelect(select, values, current) {
  if ([...select.options].map((o) => o.value).join("\n") !== values.join("\n")) {
    select.replaceChildren(...values.map((v) => new Option(v, v)));
  }
  select.value = String(current);
}

function fillControls(state) {
  const config = state.config;
  fillSelect($("activation"), state.choices.activation, config.activation);
  fillSelect($("loss"), state.choices.loss, config.loss);
  $("learning-rate").value = String(config.learning_rate);
  $("regularization").value = String(config.regularization);
  $("batch-size").value = config.batch_size;
  $("noise").value = Math.round(config.noise * 100);
  $("noise-text").textContent = String(config.noise);
  $("train-ratio").value = Math.round(config.train_ratio * 100);
  $("train-ratio-text").textContent = `${Math.round(config.train_ratio * 100)}%`;
  $("seed").value = config.seed;
  $("noise").disabled = config.dataset === "table";
  const buttons = $("datasets");
  if (buttons.children.length !== state.choices.dataset.length) {
    buttons.replaceChildren(...state.choices.dataset.map((name) => {
      const button = document.createElement("button");
      button.type = "button";
      button.setAttribute("role", "radio");
      button.dataset.dataset = name;
      button.textContent = name;
      button.addEventListener("click", () => configure({ dataset: name }));
      return button;
    }));
  }
  for (const button of buttons.children) {
    button.setAttribute("aria-checked", String(button.dataset.dataset === config.dataset));
  }
  const table = state.table;
  $("plane-choice").hidden = !table || config.dataset !== "table";
  if (table) {
    const names = state.network.input_names;
    fillSelect($("plane-x"), names, names[config.plane[0]]);
    fillSelect($("plane-y"), names, names[config.plane[1]]);
    $("data-note").textContent = `${table.source}: target ${table.target}; inputs off the plane are held at their mean.`;
  }
  const classes = state.points.class_names;
  if (classes.length === 2) {
    $("plane-note").textContent = `Horizontal: ${state.plane.names[0]}, vertical: ${state.plane.names[1]}.` +
      ` Points: class ${classes[0]} orange, class ${classes[1]} blue.`;
  } else {
    $("plane-note").textContent = `Horizontal: ${state.plane.names[0]}, vertical: ${state.plane.names[1]}.` +
      " Background: the predicted class, paler where the network is less sure.";
  }
  fillLegend(classes);
  const hidden = config.hidden;
  $("hidden-count").textContent = `${hidden.length} hidden layer${hidden.length === 1 ? "" : "s"}`;
  $("add-layer").disabled = hidden.length >= state.choices.limits.layers;
  $("remove-layer").disabled = hidden.length === 0;
  $("layer-controls").replaceChildren(...hidden.map((width, k) => {
    const group = document.createElement("span");
    group.className = "layer";
    group.dataset.layer = String(k + 1);
    const minus = document.createElement("button");
    minus.type = "button";
    minus.textContent = "−";
    minus.className = "remove-neuron";
    minus.setAttribute("aria-label", `remove a neuron from hidden layer ${k + 1}`);
    minus.disabled = width <= 1;
    minus.addEventListener("click", () => configure({ hidden: hidden.map((w, i) => (i === k ? w - 1 : w)) }));
    const plus = document.createElement("button");
    plus.type = "button";
    plus.textContent = "+";
    plus.className = "add-neuron";
    plus.setAttribute("aria-label", `add a neuron to hidden layer ${k + 1}`);
    plus.disabled = width >= state.choices.limits.neurons;
    plus.addEventListener("click", () => configure({ hidden: hidden.map((w, i) => (i === k ? w + 1 : w)) }));
    const label = document.createElement("span");
    label.textContent = `${width} neuron${width === 1 ? "" : "s"}`;
    group.append(`layer ${k + 1}: `, minus, label, plus);
    return group;
  }));
  $("sample").max = state.points.train.length - 1;
}

function fillLegend(classes) {
  // The classes' names come from the user's file: text nodes only.
  const legend = $("class-legend");
  legend.hidden = classes.length === 2;
  if (legend.hidden) {
    legend.replaceChildren();
    return;
  }
  legend.replaceChildren(...classes.map((name, c) => {
    const item = document.createElement("span");
    item.className = "class";
    item.dataset.class = String(c);
    const swatch = document.createElement("span");
    swatch.className = "dot";
    swatch.style.backgroundColor = `rgb(${PALETTE[c].join(",")})`;
    const label = document.createElement("span");
    label.textContent = name;
    item.append(swatch, label);
    return item;
  }));
}

// ------------------------------------------------------------------ drawing

const SVG = "http://www.w3.org/2000/svg";

function svg(name, attributes) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
}

function drawNetwork(state) {
  const sizes = state.network.sizes;
  const cell = 40;
  const gap = 12;
  // Room on the left for the inputs' names (shortened past 14 characters).
  const names = state.network.input_names.map((n) => (n.length > 14 ? `${n.slice(0, 13)}…` : n));
  const left = 12 + 7 * Math.max(...names.map((n) => n.length)) + cell / 2;
  // Three classes or more: each softmax output is one class's probability, named on its right.
  const classes = state.points.class_names;
  const outputs = classes.length === 2 ? [] : classes.map((n) => (n.length > 14 ? `${n.slice(0, 13)}…` : n));
  const right = outputs.length ? 12 + 7 * Math.max(...outputs.map((n) => n.length)) + cell / 2 : 50;
  const width = Math.max(320, 100 * (sizes.length - 1) + left + right);
  const height = Math.max(...sizes) * (cell + gap) + gap + 16;
  const x = (c) => left + (c * (width - left - right)) / (sizes.length - 1);
  const y = (c, j) => (height - sizes[c] * (cell + gap)) / 2 + j * (cell + gap) + cell / 2 + gap / 2 + 8;
  const root = $("network");
  root.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const edges = svg("g", { class: "edges" });
  const neurons = svg("g", { class: "neurons" });
  state.network.weights.forEach((matrix, l) => {
    matrix.forEach((row, i) => {
      row.forEach((w, j) => {
        const [x0, y0, x1, y1] = [x(l) + cell / 2, y(l, i), x(l + 1) - cell / 2, y(l + 1, j)];
        const d = `M${x0},${y0} C${(x0 + x1) / 2},${y0} ${(x0 + x1) / 2},${y1} ${x1},${y1}`;
        const [r, g, b] = w < 0 ? ORANGE : BLUE;
        const selected = page.selection && page.selection.kind === "edge" && page.selection.layer === l + 1 &&
          page.selection.from === i && page.selection.to === j;
        const edge = svg("path", {
          d, class: `edge${selected ? " selected" : ""}`, stroke: `rgb(${r},${g},${b})`,
          "stroke-width": Math.min(8, 0.5 + Math.abs(w) * 1.5).toFixed(2), "stroke-opacity": "0.75",
        });
        const hit = svg("path", {
          d, class: "edge-hit", "data-layer": l + 1, "data-from": i, "data-to": j,
        });
        hit.appendChild(svg("title", {})).textContent = `W[${l + 1}] row ${i + 1}, column ${j + 1}`;
        hit.addEventListener("click", () => select({ kind: "edge", layer: l + 1, from: i, to: j }));
        edges.append(edge, hit);
      });
    });
  });
  sizes.forEach((n, c) => {
    for (let j = 0; j < n; j += 1) {
      const group = svg("g", {
        class: "neuron", tabindex: "0", role: "button", "data-layer": c, "data-unit": j,
        "aria-label": c === 0 ? `input ${state.network.input_names[j]}` : `neuron ${j + 1} of layer ${c}`,
      });
      const selected = page.selection && page.selection.kind === "neuron" && page.selection.layer === c &&
        page.selection.unit === j;
      if (selected) group.classList.add("selected");
      const image = svg("image", {
        x: x(c) - cell / 2, y: y(c, j) - cell / 2, width: cell, height: cell, preserveAspectRatio: "none",
      });
      image.setAttribute("href", picture(state.neurons.pixels[c][j], state.neurons.size).toDataURL());
      group.append(image, svg("rect", { x: x(c) - cell / 2, y: y(c, j) - cell / 2, width: cell, height: cell }));
      const choose = () => select({ kind: "neuron", layer: c, unit: j });
      group.addEventListener("click", choose);
      group.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") choose();
      });
      neurons.append(group);
      if (c === 0) {
        const label = svg("text", { x: x(0) - cell / 2 - 4, y: y(0, j) + 4, "text-anchor": "end" });
        label.textContent = names[j];
        label.appendChild(svg("title", {})).textContent = state.network.input_names[j];
        neurons.append(label);
      }
      if (c === sizes.length - 1 && outputs.length) {
        const label = svg("text", { x: x(c) + cell / 2 + 4, y: y(c, j) + 4, "text-anchor": "start", class: "class-name" });
        label.textContent = outputs[j];
        label.appendChild(svg("title", {})).textContent = `p(${classes[j]})`;
        neurons.append(label);
      }
    }
  });
  root.replaceChildren(edges, neurons);
}

function drawBoundary(state) {
  const canvas = $("boundary");
  const context = canvas.getContext("2d");
  const size = state.boundary.size;
  context.imageSmoothingEnabled = true;
  const k = state.points.class_names.length;
  const background = k === 2 ? picture(state.boundary.pixels, size)
    : classPicture(state.boundary.classes, state.boundary.confidence, size, k);
  context.drawImage(background, 0, 0, canvas.width, canvas.height);
  const [x0, x1, y0, y1] = state.plane.domain;
  const px = (v) => ((v - x0) / (x1 - x0)) * canvas.width;
  const py = (v) => ((y1 - v) / (y1 - y0)) * canvas.height;
  const dots = (points, stroke) => {
    for (const [u, v, label] of points) {
      const [r, g, b] = k === 2 ? (label >= 0.5 ? BLUE : ORANGE) : PALETTE[label];
      context.beginPath();
      context.arc(px(u), py(v), 5, 0, 2 * Math.PI);
      context.fillStyle = `rgb(${r},${g},${b})`;
      context.fill();
      context.lineWidth = 1.5;
      context.strokeStyle = stroke;
      context.stroke();
    }
  };
  dots(state.points.train, "#fff");
  if ($("show-test").checked) dots(state.points.test, "#000");
}

function drawCurves(state) {
  const canvas = $("curves");
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  const { loss, test_loss: testLoss } = state.curves;
  const values = [...loss, ...testLoss].filter((v) => v !== null);
  if (values.length === 0) return;
  const top = Math.max(...values) || 1;
  const line = (series, style) => {
    context.beginPath();
    series.forEach((v, i) => {
      if (v === null) return;
      const u = series.length === 1 ? 0 : (i / (series.length - 1)) * canvas.width;
      const w = canvas.height - 4 - (v / top) * (canvas.height - 8);
      if (i === 0) context.moveTo(u, w);
      else context.lineTo(u, w);
    });
    context.strokeStyle = style;
    context.lineWidth = 2;
    context.stroke();
  };
  line(loss, "#333");
  line(testLoss, "#c33");
}

function setNumber(id, text, value) {
  const element = $(id);
  element.textContent = text;
  element.dataset.value = value === null ? "" : String(value);
}

async function show(state) {
  page.state = state;
  $("epoch").textContent = String(state.epoch);
  setNumber("test-loss", state.texts.test_loss, state.test_loss);
  setNumber("train-loss", state.texts.loss, state.loss);
  setNumber("test-accuracy", state.texts.test_accuracy, state.test_accuracy);
  setNumber("train-accuracy", state.texts.accuracy, state.accuracy);
  fillControls(state);
  if (page.selection && !selectionExists(state, page.selection)) page.selection = null;
  drawNetwork(state);
  drawBoundary(state);
  drawCurves(state);
}

function selectionExists(state, s) {
  const sizes = state.network.sizes;
  if (s.kind === "neuron") return s.layer < sizes.length && s.unit < sizes[s.layer];
  return s.layer < sizes.length && s.from < sizes[s.layer - 1] && s.to < sizes[s.layer];
}

// ------------------------------------------------------------------ the numbers of one step

function sampleIndex() {
  return Number.parseInt($("sample").value || "0", 10);
}

async function loadTrace() {
  const trace = await act(() => api(`/api/trace?sample=${encodeURIComponent($("sample").value || "0")}`));
  if (trace) {
    page.trace = trace;
    $("trace").innerHTML = trace.html; // the library's own HTML (Trace.to_html), escaped there
    showSelection();
  }
}

async function select(selection) {
  page.selection = selection;
  if (page.state) drawNetwork(page.state);
  await loadTrace();
}

function row(table, label, formula, entry, quantity) {
  const tr = document.createElement("tr");
  const name = document.createElement("th");
  name.textContent = label;
  const math = document.createElement("td");
  math.className = "formula";
  math.textContent = formula;
  const value = document.createElement("td");
  value.className = "value";
  value.dataset.quantity = quantity;
  value.dataset.value = entry.value === null ? "nan" : String(entry.value);
  value.textContent = entry.text;
  tr.append(name, math, value);
  table.append(tr);
}

function table(headers) {
  const element = document.createElement("table");
  const head = document.createElement("tr");
  for (const text of headers) {
    const th = document.createElement("th");
    th.textContent = text;
    head.append(th);
  }
  element.append(head);
  return element;
}

function heading(text) {
  const h = document.createElement("h3");
  h.textContent = text;
  return h;
}

function showSelection() {
  const box = $("selection");
  const trace = page.trace;
  const s = page.selection;
  if (!trace || !s) return;
  const parts = [];
  const sample = `sample ${trace.sample}: x = [${trace.x.map((e) => e.text).join(", ")}], target y = ${trace.y.text},` +
    ` output ŷ = ${trace.prediction.text}, loss = ${trace.loss_value.text}, η = ${trace.learning_rate_text} (epoch ${trace.epoch})` +
    (Array.isArray(trace.y.value) ? `; the sample's class: ${trace.y_class}` : "");
  const intro = document.createElement("p");
  intro.textContent = sample;
  if (s.kind === "neuron" && s.layer === 0) {
    parts.push(heading(`Input ${s.unit + 1} (${page.state.network.input_names[s.unit]})`), intro);
    const t = table(["quantity", "formula", "value"]);
    row(t, "input", `x[${s.unit + 1}]`, trace.x[s.unit], "x");
    parts.push(t);
  } else if (s.kind === "neuron") {
    const layer = trace.layers[s.layer - 1];
    const n = layer.neurons[s.unit];
    const l = layer.index;
    const j = s.unit + 1;
    const role = layer.is_output ? "output" : "hidden";
    const f = layer.formulas;
    const classes = page.state.points.class_names;
    const named = layer.is_output && classes.length > 2 ? `: p(${classes[s.unit]})` : "";
    parts.push(heading(`Neuron ${j} of layer ${l} (${role}, ${layer.activation})${named}`), intro);
    const t = table(["quantity (the seed's words)", "formula (for the layer, this neuron is column " + j + ")", "value"]);
    row(t, `${role} layer input z`, f[`${role} layer input`], n.z, "z");
    row(t, layer.is_output ? "output ŷ" : `${role} layer output a`, f[layer.is_output ? "output ŷ" : "hidden layer output"], n.a, "a");
    if (layer.jacobian) {
      row(t, `f′(z): its own entry ∂ŷ${j}/∂z${j}`, f[`f'(z[${l}])`], n.fprime, "fprime");
    } else {
      row(t, "f′(z)", f[`f'(z[${l}])`], n.fprime, "fprime");
    }
    row(
      t,
      layer.is_output ? "output error term δᵒ" : "hidden error term δʰ",
      `${f[`${role} error term`]}     (the seed: ${layer.seed})`,
      n.delta,
      "delta",
    );
    if (n.db) row(t, "bias update Δb", f["bias update"], n.db, "db");
    parts.push(t);
    parts.push(heading(`Weight updates into this neuron: Δw = η δ x   (${f["weight update"]})`));
    const w = table(["from", "input a", "weight w", "weight update Δw"]);
    layer.edges.forEach((edges, i) => {
      const e = edges[s.unit];
      const tr = document.createElement("tr");
      const from = document.createElement("th");
      from.textContent = l === 1 ? page.state.network.input_names[i] : `a[${l - 1}] ${i + 1}`;
      tr.append(from);
      for (const [entry, quantity] of [[e.input, "input"], [e.w, "w"], [e.dW, "dW"]]) {
        const td = document.createElement("td");
        td.className = "value";
        td.dataset.quantity = quantity;
        td.dataset.value = entry.value === null ? "nan" : String(entry.value);
        td.textContent = entry.text;
        tr.append(td);
      }
      w.append(tr);
    });
    parts.push(w);
  } else {
    const layer = trace.layers[s.layer - 1];
    const e = layer.edges[s.from][s.to];
    const n = layer.neurons[s.to];
    const l = layer.index;
    parts.push(heading(`Edge W[${l}] from ${l === 1 ? page.state.network.input_names[s.from] : `neuron ${s.from + 1} of layer ${l - 1}`}` +
      ` to neuron ${s.to + 1} of layer ${l}`), intro);
    const t = table(["quantity (the seed's words)", "formula", "value"]);
    row(t, "weight w", `W[${l}] row ${s.from + 1}, column ${s.to + 1}`, e.w, "w");
    row(t, "input x (the layer below's output)", l === 1 ? "x" : `a[${l - 1}]`, e.input, "input");
    row(t, layer.is_output ? "output error term δᵒ" : "hidden error term δʰ", layer.formulas[`${layer.is_output ? "output" : "hidden"} error term`], n.delta, "delta");
    row(t, "weight update Δw", `Δw = η δ x   (${layer.formulas["weight update"]})`, e.dW, "dW");
    parts.push(t);
  }
  const scroll = document.createElement("div");
  scroll.className = "scroll";
  scroll.append(...parts);
  box.replaceChildren(scroll);
}

// ------------------------------------------------------------------ training

async function train(steps) {
  const state = await act(() => api("/api/step", { steps }));
  if (!state) return false;
  await show(state);
  return true;
}

async function play() {
  // data-idle: "true" once the loop has ended, its last request shown (a script waits on it).
  $("play").dataset.idle = "false";
  try {
    await playing();
  } finally {
    $("play").dataset.idle = "true";
  }
}

async function playing() {
  while (page.playing) {
    const started = performance.now();
    if (!(await train(page.stepsPerFrame))) {
      setPlaying(false);
      break;
    }
    if (page.selection) await loadTrace();
    // About ten frames a second: more epochs per request when each is quick.
    const took = performance.now() - started;
    if (took < 60 && page.stepsPerFrame < 20) page.stepsPerFrame += 1;
    else if (took > 200 && page.stepsPerFrame > 1) page.stepsPerFrame -= 1;
    await new Promise((resolve) => requestAnimationFrame(resolve));
  }
}

function setPlaying(playing) {
  page.playing = playing;
  const button = $("play");
  button.textContent = playing ? "❚❚ Pause" : "▶ Play";
  button.setAttribute("aria-pressed", String(playing));
  if (playing) play();
}

// ------------------------------------------------------------------ wiring

function wire() {
  $("play").addEventListener("click", () => setPlaying(!page.playing));
  $("step").addEventListener("click", async () => {
    setPlaying(false);
    if (await train(1)) {
      $("trace-details").open = true;
      await loadTrace();
    }
  });
  $("reset").addEventListener("click", async () => {
    setPlaying(false);
    const state = await act(() => api("/api/reset", {}));
    if (state) await show(state);
    if (page.selection) await loadTrace();
  });
  $("learning-rate").addEventListener("change", (e) => configure({ learning_rate: Number(e.target.value) }));
  $("regularization").addEventListener("change", (e) => configure({ regularization: Number(e.target.value) }));
  $("activation").addEventListener("change", (e) => configure({ activation: e.target.value }));
  $("loss").addEventListener("change", (e) => configure({ loss: e.target.value }));
  $("batch-size").addEventListener("change", (e) => configure({ batch_size: Number(e.target.value) }));
  $("noise").addEventListener("change", (e) => configure({ noise: Number(e.target.value) / 100 }));
  $("train-ratio").addEventListener("change", (e) => configure({ train_ratio: Number(e.target.value) / 100 }));
  $("seed").addEventListener("change", (e) => configure({ seed: Number(e.target.value) }));
  const plane = () => {
    const names = page.state.network.input_names;
    configure({ plane: [names.indexOf($("plane-x").value), names.indexOf($("plane-y").value)] });
  };
  $("plane-x").addEventListener("change", plane);
  $("plane-y").addEventListener("change", plane);
  $("add-layer").addEventListener("click", () => {
    const hidden = page.state.config.hidden;
    configure({ hidden: [...hidden, hidden.length ? hidden[hidden.length - 1] : 4] });
  });
  $("remove-layer").addEventListener("click", () => configure({ hidden: page.state.config.hidden.slice(0, -1) }));
  $("show-test").addEventListener("change", () => page.state && drawBoundary(page.state));
  $("sample").addEventListener("change", loadTrace);
  $("gradcheck").addEventListener("click", async () => {
    const result = await act(() => api("/api/gradcheck", { sample: sampleIndex() }));
    if (!result) return;
    const box = $("gradcheck-result");
    const verdict = document.createElement("p");
    verdict.className = result.passed ? "passed" : "failed";
    verdict.id = "gradcheck-verdict";
    verdict.textContent = `${result.passed ? "Passed" : "Failed"}: backprop.gradcheck on ${result.rows} training rows` +
      ` from sample ${sampleIndex()}, the analytic gradient against central differences.`;
    const text = document.createElement("pre");
    text.textContent = result.text;
    box.replaceChildren(verdict, text);
    box.hidden = false;
  });
}

async function start() {
  wire();
  const state = await act(() => api("/api/state"));
  if (state) await show(state);
}

start();
