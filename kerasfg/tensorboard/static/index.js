// kerasfg's TensorBoard tab: plain ES module, loaded by TensorBoard's plugin_entry.html as ./index.js.
//
// Every name that comes from the log directory (runs, tags, layers, settings) is written with
// textContent, never parsed as HTML. Heat maps arrive as raw 8-bit grayscale PNGs and are coloured
// and blended over the probe images here, on canvases, so opacity and colour map change without a refetch.
// Pictures marked "zoomable" open enlarged (pixels kept sharp) on a click; a click or Escape closes them.

const VIEWS = [
  ["explanations", "Explanations"],
  ["activations", "Activations"],
  ["deep_visualization", "Deep visualization"],
  ["deconvolution", "Deconvolution"],
  ["faithfulness", "Faithfulness"],
  ["sanity_checks", "Sanity checks"],
  ["confusion_matrix", "Confusion matrices"],
];

// Colour maps as evenly spaced stops, interpolated linearly into 256-entry lookup tables.
const COLORMAPS = {
  jet: ["#000080", "#0000ff", "#0080ff", "#00ffff", "#80ff80", "#ffff00", "#ff8000", "#ff0000", "#800000"],
  viridis: ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"],
  inferno: ["#000004", "#1b0c41", "#4a0c6b", "#781c6d", "#a52c60", "#cf4446", "#ed6925", "#fb9b06", "#f7d13d",
    "#fcffa4"],
  gray: ["#000000", "#ffffff"],
};

// What the user chose, per view; a choice that no longer exists falls back to the first one available.
const state = {
  runs: {},
  view: "explanations",
  runA: null,
  runB: null,
  stepIndex: 0,
  opacity: 0.5,
  colormap: "jet",
  activationsRun: null,
  activationsTag: null,
  activationsProbe: 0,
  deepRun: null,
  deepStep: null,
  deconvRun: null,
  deconvTag: null,
  deconvStepIndex: null,
  tableRun: null,
  confusionRun: null,
  confusionStepIndex: null,
  sanityRun: null,
  sanityStep: null,
  sanityMetric: "rank_correlation",
};
const pictureCache = new Map();
const lutCache = new Map();
let root;
let renderToken = 0;

// === Helpers ===

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node[key] = value;
  }
  for (const child of children) node.append(child);
  return node;
}

async function getJSON(route, params = {}) {
  const response = await fetch(`./${route}?${new URLSearchParams(params)}`);
  const body = await response.json();
  if (!response.ok) throw new Error(`${route}: ${body.error || response.statusText}`);
  return body;
}

function pictureURL(run, tag, step, index) {
  return `./picture?${new URLSearchParams({run, tag, step, index})}`;
}

function shortTag(tag) {
  return tag.startsWith("kerasfg/") ? tag.slice("kerasfg/".length) : tag;
}

function recordingsOf(run, kind) {
  return (state.runs[run] || []).filter((r) => r.kind === kind);
}

function runsWith(kind) {
  return Object.keys(state.runs).filter((run) => recordingsOf(run, kind).length > 0);
}

function select(options, value, onChange, label) {
  const node = el("select", {onchange: (event) => onChange(event.target.value), title: label});
  for (const [optionValue, text] of options) {
    node.append(el("option", {value: optionValue, textContent: text, selected: optionValue === value}));
  }
  return el("label", {className: "control"}, [el("span", {textContent: label}), node]);
}

function message(text) {
  return el("p", {className: "message", textContent: text});
}

// A picture that opens enlarged on a click.
function zoomable(src, alt, className = "") {
  return el("img", {src, alt, className: `${className} zoomable`.trim(), title: "click to enlarge",
    onclick: () => enlarge(src, alt)});
}

function enlarge(src, alt) {
  const close = () => {
    overlay.remove();
    document.removeEventListener("keydown", onKey);
  };
  const onKey = (event) => { if (event.key === "Escape") close(); };
  const image = el("img", {src, alt, className: "enlarged"});
  const overlay = el("div", {className: "lightbox", onclick: close}, [image, el("p", {textContent: alt})]);
  image.decode().then(() => {
    // As large as the window allows, by whole multiples of the picture's pixels.
    const scale = Math.max(1, Math.floor(Math.min((window.innerWidth * 0.9) / image.naturalWidth,
      (window.innerHeight * 0.8) / image.naturalHeight)));
    image.style.width = `${image.naturalWidth * scale}px`;
  }).catch(() => {});
  document.addEventListener("keydown", onKey);
  root.append(overlay);
}

function showError(error) {
  const status = root.querySelector(".status");
  status.textContent = String(error.message || error);
  status.hidden = false;
}

// Pictures of one run, tag and step, decoded once: [{width, height, image, pixels}].
function loadPictures(run, tag, step) {
  const key = JSON.stringify([run, tag, step]);
  if (!pictureCache.has(key)) {
    pictureCache.set(key, getJSON("pictures", {run, tag, step}).then((pictures) => Promise.all(
      pictures.map(async (picture) => {
        const image = new Image();
        image.src = `data:image/png;base64,${picture.png}`;
        await image.decode();
        const canvas = el("canvas", {width: image.naturalWidth, height: image.naturalHeight});
        const context = canvas.getContext("2d", {willReadFrequently: true});
        context.drawImage(image, 0, 0);
        return {...picture, image, pixels: context.getImageData(0, 0, canvas.width, canvas.height)};
      }))));
    pictureCache.get(key).catch(() => pictureCache.delete(key));
  }
  return pictureCache.get(key);
}

function lut(name) {
  if (!lutCache.has(name)) {
    const stops = COLORMAPS[name].map((hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)));
    const table = new Uint8ClampedArray(256 * 3);
    for (let v = 0; v < 256; v++) {
      const position = (v / 255) * (stops.length - 1);
      const low = Math.min(Math.floor(position), stops.length - 2);
      const t = position - low;
      for (let c = 0; c < 3; c++) table[v * 3 + c] = stops[low][c] * (1 - t) + stops[low + 1][c] * t;
    }
    lutCache.set(name, table);
  }
  return lutCache.get(name);
}

// Draw a grayscale heat map, coloured with `colormap`, over `probe` with `opacity` onto `canvas`.
function drawOverlay(canvas, probe, heat, opacity, colormap) {
  const {width, height} = heat.pixels;
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  let base = null;
  if (probe) {
    context.drawImage(probe.image, 0, 0, width, height);
    base = context.getImageData(0, 0, width, height).data;
  }
  const out = context.createImageData(width, height);
  const table = lut(colormap);
  const gray = heat.pixels.data;
  for (let i = 0; i < gray.length; i += 4) {
    const v = gray[i] * 3;
    for (let c = 0; c < 3; c++) {
      const under = base ? base[i + c] : 0;
      out.data[i + c] = under * (1 - opacity) + table[v + c] * opacity;
    }
    out.data[i + 3] = 255;
  }
  context.putImageData(out, 0, 0);
}

// The probe recording that a heat map is drawn over, and its step: the latest at or before `step`.
function probeFor(run, recording, step) {
  const tag = `kerasfg/${recording.content.probe || "probe/images"}`;
  const probe = (state.runs[run] || []).find((r) => r.tag === tag && r.kind === "probe");
  if (!probe || probe.steps.length === 0) return null;
  const before = probe.steps.filter((s) => s <= step);
  return {tag, step: before.length ? before[before.length - 1] : probe.steps[0]};
}

// The annotations of `recording` at `step` (what changes from step to step, such as the feature maps
// shown), or {} when it has none there.
function loadAnnotations(run, recording, step) {
  if (!recording.content.annotations) return {};
  const tag = `kerasfg/${recording.content.annotations}`;
  const annotations = (state.runs[run] || []).find((r) => r.tag === tag && r.kind === "annotations");
  return annotations && annotations.steps.includes(step) ? getJSON("annotations", {run, tag, step}) : {};
}

function unionSteps(recordings) {
  return [...new Set(recordings.flatMap((r) => r.steps))].sort((a, b) => a - b);
}

function stepSlider(steps, index, onChange) {
  const label = el("span", {className: "step-label", textContent: `step ${steps[index]}`});
  const slider = el("input", {
    type: "range", min: 0, max: Math.max(steps.length - 1, 0), value: index, className: "step-slider",
    oninput: (event) => {
      label.textContent = `step ${steps[event.target.value]}`;
      onChange(Number(event.target.value));
    },
  });
  return el("label", {className: "control"}, [el("span", {textContent: "Step"}), slider, label]);
}

// === Explanations ===

function explanationsView(container) {
  const runs = runsWith("heatmap");
  if (runs.length === 0) {
    container.append(message("No heat maps recorded yet: record them with kerasfg.callbacks.AttentionMaps " +
      "(or Saliency and GradCAM)."));
    return;
  }
  if (!runs.includes(state.runA)) state.runA = runs[0];
  if (state.runB !== "" && !runs.includes(state.runB)) state.runB = runs.find((r) => r !== state.runA) || "";
  const shown = () => [state.runA, state.runB].filter((run) => run);
  const steps = unionSteps(shown().flatMap((run) => recordingsOf(run, "heatmap")));
  state.stepIndex = Math.min(state.stepIndex, steps.length - 1);
  const grids = el("div", {className: "side-by-side"});
  const redraw = () => renderExplanations(grids, shown(), steps[state.stepIndex], false);
  const rebuild = () => {
    container.replaceChildren();
    explanationsView(container);
  };
  const runOptions = runs.map((run) => [run, run]);
  container.append(el("div", {className: "controls"}, [
    select(runOptions, state.runA, (run) => { state.runA = run; rebuild(); }, "Run"),
    select([["", "(none)"], ...runOptions], state.runB, (run) => { state.runB = run; rebuild(); }, "Beside it"),
    stepSlider(steps, state.stepIndex, (index) => { state.stepIndex = index; redraw(); }),
    el("label", {className: "control"}, [el("span", {textContent: "Opacity"}), el("input", {
      type: "range", min: 0, max: 1, step: 0.05, value: state.opacity, className: "opacity-slider",
      oninput: (event) => {
        state.opacity = Number(event.target.value);
        renderExplanations(grids, shown(), steps[state.stepIndex], true);
      },
    })]),
    select(Object.keys(COLORMAPS).map((name) => [name, name]), state.colormap, (name) => {
      state.colormap = name;
      renderExplanations(grids, shown(), steps[state.stepIndex], true);
    }, "Colour map"),
  ]), grids);
  redraw();
}

// Fill `grids` with one grid per run at `step`: probe images down the side, methods across.
// With `recolour`, only redraw the existing canvases from the decoded pictures.
async function renderExplanations(grids, runs, step, recolour) {
  const token = ++renderToken;
  try {
    const panels = await Promise.all(runs.map(async (run) => {
      const heatmaps = recordingsOf(run, "heatmap")
        .sort((a, b) => (a.content.method || "").localeCompare(b.content.method || "") || a.tag.localeCompare(b.tag));
      const columns = await Promise.all(heatmaps.map(async (recording) => {
        const probe = probeFor(run, recording, step);
        const [heat, probes] = await Promise.all([
          recording.steps.includes(step) ? loadPictures(run, recording.tag, step) : null,
          probe ? loadPictures(run, probe.tag, probe.step) : null,
        ]);
        return {recording, heat, probes};
      }));
      return {run, columns};
    }));
    if (token !== renderToken) return;
    if (recolour && grids.children.length === panels.length) {
      for (const canvas of grids.querySelectorAll("canvas.overlay")) {
        const {panel, column, row} = canvas.dataset;
        const {heat, probes} = panels[panel].columns[column];
        drawOverlay(canvas, probes && probes[row], heat[row], state.opacity, state.colormap);
      }
    } else {
      grids.replaceChildren(...panels.map((panel, p) => explanationGrid(panel, p)));
    }
    grids.dataset.renderedStep = step;
    if (!performance.getEntriesByName("kerasfg:explanations-rendered").length) {
      performance.mark("kerasfg:explanations-rendered");
    }
  } catch (error) {
    showError(error);
  }
}

function explanationGrid({run, columns}, panel) {
  const probes = columns.map((c) => c.probes).find((p) => p) || [];
  // Only the probe images that have heat maps get a row; the others are counted.
  const rows = Math.max(0, ...columns.map((c) => (c.heat ? c.heat.length : 0)));
  const header = el("tr", {}, [el("th", {textContent: "probe"}), ...columns.map(({recording}) => el("th", {
    title: shortTag(recording.tag),
  }, [
    el("div", {className: "method", textContent: recording.content.method || "heatmap"}),
    el("div", {className: "detail", textContent: shortTag(recording.tag)}),
  ]))]);
  const body = [];
  for (let row = 0; row < rows; row++) {
    const probeCell = probes[row] ?
      el("img", {className: "probe cell", src: probes[row].image.src, alt: `probe image ${row}`}) :
      message("—");
    body.push(el("tr", {}, [el("td", {}, [probeCell]), ...columns.map(({heat, probes: under}, column) => {
      if (!heat || !heat[row]) return el("td", {className: "missing", textContent: "—"});
      const canvas = el("canvas", {className: "overlay cell", dataset: {panel, column, row}});
      drawOverlay(canvas, under && under[row], heat[row], state.opacity, state.colormap);
      return el("td", {}, [canvas]);
    })]));
  }
  const count = probes.length > rows ?
    `heat maps of the first ${rows} of the ${probes.length} probe images` : `${rows} probe images`;
  return el("section", {className: "panel", dataset: {run}}, [
    el("h3", {className: "run-name", textContent: run}),
    el("p", {className: "probe-count", textContent: count}),
    el("table", {className: "grid"}, [el("thead", {}, [header]), el("tbody", {}, body)]),
  ]);
}

// === Activations ===

function activationsView(container) {
  const runs = runsWith("activations");
  if (runs.length === 0) {
    container.append(message("No activations recorded yet: record them with kerasfg.callbacks.LayerActivations."));
    return;
  }
  const run = runs.includes(state.activationsRun) ? state.activationsRun : runs[0];
  // In model order (the callback's `position`), so the view opens on the first layer recorded.
  const layers = recordingsOf(run, "activations").sort((a, b) =>
    (a.content.position ?? Infinity) - (b.content.position ?? Infinity) || a.tag.localeCompare(b.tag));
  const recording = layers.find((r) => r.tag === state.activationsTag) || layers[0];
  const count = recording.max_length || 1;
  const probe = Math.min(state.activationsProbe, count - 1);
  const rebuild = (change) => {
    Object.assign(state, change);
    container.replaceChildren();
    activationsView(container);
  };
  container.append(el("div", {className: "controls"}, [
    select(runs.map((r) => [r, r]), run, (r) => rebuild({activationsRun: r}), "Run"),
    select(layers.map((r) => [r.tag, r.content.layer || shortTag(r.tag)]), recording.tag,
      (tag) => rebuild({activationsTag: tag}), "Layer"),
    select([...Array(count).keys()].map((i) => [String(i), `image ${i}`]), String(probe),
      (i) => rebuild({activationsProbe: Number(i)}), "Probe image"),
  ]), el("div", {className: "gallery"}, recording.steps.map((step) => {
    const picture = zoomable(pictureURL(run, recording.tag, step, probe), `${recording.content.layer}, step ${step}`);
    picture.loading = "lazy";
    return el("figure", {}, [picture, el("figcaption", {textContent: `step ${step}`})]);
  })));
}

// === Deep visualization ===

function deepVisualizationView(container) {
  const runs = runsWith("deep_visualization");
  if (runs.length === 0) {
    container.append(message("No deep visualizations recorded yet: record them with " +
      "kerasfg.callbacks.DeepVisualization."));
    return;
  }
  const run = runs.includes(state.deepRun) ? state.deepRun : runs[0];
  const layers = recordingsOf(run, "deep_visualization");
  const steps = unionSteps(layers);
  const step = steps.includes(state.deepStep) ? state.deepStep : steps[steps.length - 1];
  const rebuild = (change) => {
    Object.assign(state, change);
    container.replaceChildren();
    deepVisualizationView(container);
  };
  container.append(el("div", {className: "controls"}, [
    select(runs.map((r) => [r, r]), run, (r) => rebuild({deepRun: r}), "Run"),
    select(steps.map((s) => [String(s), `step ${s}`]), String(step), (s) => rebuild({deepStep: Number(s)}), "Step"),
  ]));
  for (const recording of layers.filter((r) => r.steps.includes(step))) {
    const {layer, units = [], preset, settings = {}} = recording.content;
    const gallery = el("div", {className: "gallery"});
    container.append(el("section", {className: "layer"}, [
      el("h3", {textContent: `${layer || shortTag(recording.tag)}${preset ? ` — preset ${preset}` : ""}`}),
      el("dl", {className: "settings"}, Object.entries(settings).flatMap(([key, value]) => [
        el("dt", {textContent: key}), el("dd", {textContent: JSON.stringify(value)}),
      ])),
      gallery,
    ]));
    Promise.all([loadPictures(run, recording.tag, step), loadAnnotations(run, recording, step)])
      .then(([pictures, {activations = [], start_activations: starts = []}]) => gallery.replaceChildren(
        ...pictures.map((p, i) => {
          const start = i in starts ? ` (from ${Number(starts[i]).toFixed(3)})` : "";
          const activation = i in activations ? `: activation ${Number(activations[i]).toFixed(3)}${start}` : "";
          const unit = `unit ${units[i] ?? i}`;
          return el("figure", {}, [
            zoomable(p.image.src, `${layer || shortTag(recording.tag)}, ${unit}, step ${step}`),
            el("figcaption", {textContent: `${unit}${activation}`}),
          ]);
        }))).catch(showError);
  }
}

// === Deconvolution ===

const SWITCHES = {
  pooling: "max pooling, as in Zeiler and Fergus's deconvnet",
  relu: "every ReLU and max pooling (guided backpropagation from one activation, Springenberg et al.): " +
    "the model downsamples without max pooling, where a deconvnet takes its switches, so without them " +
    "its reconstructions would look alike on every image",
};

function deconvolutionView(container) {
  const runs = runsWith("deconvolution");
  if (runs.length === 0) {
    container.append(message("No deconvolutions recorded yet: record them with kerasfg.callbacks.Deconvolution."));
    return;
  }
  const run = runs.includes(state.deconvRun) ? state.deconvRun : runs[0];
  const layers = recordingsOf(run, "deconvolution");
  const recording = layers.find((r) => r.tag === state.deconvTag) || layers[0];
  const steps = recording.steps;
  const index = Math.min(state.deconvStepIndex ?? steps.length - 1, steps.length - 1);
  const rows = el("div", {className: "rows"});
  const rebuild = (change) => {
    Object.assign(state, change);
    container.replaceChildren();
    deconvolutionView(container);
  };
  const draw = async (i) => {
    const step = steps[i];
    const probe = probeFor(run, recording, step);
    const [pictures, probes, {feature_maps: featureMaps = []}] = await Promise.all([
      loadPictures(run, recording.tag, step), probe ? loadPictures(run, probe.tag, probe.step) : [],
      loadAnnotations(run, recording, step),
    ]);
    rows.replaceChildren(...pictures.map((picture, row) => el("figure", {className: "row"}, [
      ...(probes[row] ? [el("img", {className: "probe", src: probes[row].image.src, alt: `probe image ${row}`})] : []),
      zoomable(picture.image.src, `reconstructions for probe image ${row}`, "reconstructions"),
      el("figcaption", {
        textContent: `image ${row}${featureMaps[row] ? `: feature maps ${JSON.stringify(featureMaps[row])}` : ""}`,
      }),
    ])));
    rows.dataset.renderedStep = step;
  };
  container.append(el("div", {className: "controls"}, [
    select(runs.map((r) => [r, r]), run, (r) => rebuild({deconvRun: r}), "Run"),
    select(layers.map((r) => [r.tag, r.content.layer || shortTag(r.tag)]), recording.tag,
      (tag) => rebuild({deconvTag: tag}), "Layer"),
    stepSlider(steps, index, (i) => { state.deconvStepIndex = i; draw(i).catch(showError); }),
  ]), ...(SWITCHES[recording.content.switches] ? [el("p", {className: "note", textContent:
    `Switches at ${SWITCHES[recording.content.switches]}. ` + (recording.content.colour === false
      ? "Drawn in grey, the sum of the colour channels: mid-grey is no signal, light and dark its positive " +
        "and negative parts."
      : "Mid-grey is no signal.")})] : []), rows);
  draw(index).catch(showError);
}

// === Faithfulness ===

function formatCell(value) {
  return typeof value === "number" && !Number.isInteger(value) ? value.toFixed(3) : String(value);
}

// The tables of `run` that are not the counts of one of its confusion matrices or a sanity check's scores
// (their own views show those).
function scoreTables(run) {
  const shownElsewhere = new Set([
    ...recordingsOf(run, "confusion_matrix").filter((r) => r.content.counts).map((r) => `kerasfg/${r.content.counts}`),
    ...recordingsOf(run, "sanity_checks").filter((r) => r.content.table).map((r) => `kerasfg/${r.content.table}`),
  ]);
  return recordingsOf(run, "table").filter((r) => !shownElsewhere.has(r.tag));
}

function faithfulnessView(container) {
  const runs = Object.keys(state.runs).filter((run) => scoreTables(run).length > 0);
  if (runs.length === 0) {
    container.append(message("No faithfulness tables recorded yet: record them with kerasfg.callbacks.Faithfulness."));
    return;
  }
  const run = runs.includes(state.tableRun) ? state.tableRun : runs[0];
  container.append(el("div", {className: "controls"}, [select(runs.map((r) => [r, r]), run, (r) => {
    state.tableRun = r;
    container.replaceChildren();
    faithfulnessView(container);
  }, "Run")]));
  for (const recording of scoreTables(run)) {
    const body = el("tbody");
    const columns = recording.content.columns || [];
    const fill = async (chosen) => {
      const steps = chosen === "all" ? recording.steps : [Number(chosen)];
      const tables = await Promise.all(steps.map((step) => getJSON("table", {run, tag: recording.tag, step})));
      body.replaceChildren(...tables.flatMap((table, i) => table.rows.map((row) => el("tr", {}, [
        el("td", {textContent: String(steps[i])}), ...row.map((value) => el("td", {textContent: formatCell(value)})),
      ]))));
    };
    const latest = String(recording.steps[recording.steps.length - 1]);
    container.append(el("section", {className: "table"}, [
      el("h3", {textContent: shortTag(recording.tag)}),
      select([["all", "all steps"], ...recording.steps.map((s) => [String(s), `step ${s}`])], latest,
        (chosen) => fill(chosen).catch(showError), "Step"),
      el("table", {className: "scores"}, [
        el("thead", {}, [el("tr", {}, ["step", ...columns].map((c) => el("th", {textContent: c})))]), body,
      ]),
    ]));
    fill(latest).catch(showError);
  }
}

// === Sanity checks ===

const METHOD_COLOURS = ["#1565c0", "#e65100", "#2e7d32", "#6a1b9a", "#c62828", "#00838f", "#5d4037"];

// An SVG line chart of `metric` after each step of the cascading randomization, one line per method.
function sanityChart(rows, layers, metric) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = (tag, attributes = {}, text = null) => {
    const node = document.createElementNS(ns, tag);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
    if (text !== null) node.textContent = text;
    return node;
  };
  // Layer names slant below the axis: room for about 20 characters at 45 degrees.
  const width = Math.max(420, 80 * layers.length + 200), height = 330, left = 48, right = 170, top = 12,
    bottom = 120;
  const x = (i) => left + (layers.length > 1 ? (i * (width - left - right)) / (layers.length - 1) : 0);
  const y = (v) => top + ((1 - v) / 1.2) * (height - top - bottom);  // values from -0.2 to 1
  const chart = svg("svg", {width, height, class: "sanity-chart", role: "img"});
  for (const tick of [-0.2, 0, 0.2, 0.4, 0.6, 0.8, 1]) {
    chart.append(svg("line", {x1: left, x2: width - right, y1: y(tick), y2: y(tick), class: "grid-line"}));
    chart.append(svg("text", {x: left - 6, y: y(tick) + 4, "text-anchor": "end", class: "tick"}, tick.toFixed(1)));
  }
  layers.forEach((layer, i) => chart.append(svg("text", {
    x: x(i), y: height - bottom + 12, transform: `rotate(45 ${x(i)} ${height - bottom + 12})`, class: "tick",
  }, layer)));
  const methods = [...new Set(rows.map((row) => row.method))];
  methods.forEach((method, m) => {
    const values = layers.map((layer) => rows.find((row) => row.method === method && row.layer === layer));
    const points = values.map((row, i) => (row ? `${x(i)},${y(row[metric])}` : null)).filter((p) => p);
    const colour = method.includes("control") ? "#9e9e9e" : METHOD_COLOURS[m % METHOD_COLOURS.length];
    chart.append(svg("polyline", {points: points.join(" "), fill: "none", stroke: colour, "stroke-width": 2,
      "stroke-dasharray": method.includes("control") ? "5,4" : "none", "data-method": method}));
    chart.append(svg("text", {x: width - right + 8, y: top + 14 + 16 * m, fill: colour, class: "legend"}, method));
  });
  return chart;
}

function sanityChecksView(container) {
  const runs = runsWith("sanity_checks");
  if (runs.length === 0) {
    container.append(message("No sanity checks recorded yet: record them with kerasfg.callbacks.SanityChecks " +
      "(it records when training ends)."));
    return;
  }
  const run = runs.includes(state.sanityRun) ? state.sanityRun : runs[0];
  const recordings = recordingsOf(run, "sanity_checks");
  const steps = unionSteps(recordings);
  const step = steps.includes(state.sanityStep) ? state.sanityStep : steps[steps.length - 1];
  const rebuild = (change) => {
    Object.assign(state, change);
    container.replaceChildren();
    sanityChecksView(container);
  };
  container.append(el("div", {className: "controls"}, [
    select(runs.map((r) => [r, r]), run, (r) => rebuild({sanityRun: r}), "Run"),
    select(steps.map((s) => [String(s), `step ${s}`]), String(step), (s) => rebuild({sanityStep: Number(s)}), "Step"),
    select([["rank_correlation", "rank correlation"], ["ssim", "SSIM"]], state.sanityMetric,
      (metric) => rebuild({sanityMetric: metric}), "Metric"),
  ]), message("Each method's maps against the trained model's as the layers are randomized from the top down: a " +
    "method that explains the model falls towards 0; the edge detector (the control) ignores the model."));
  for (const recording of recordings.filter((r) => r.steps.includes(step))) {
    const {output, layers = [], methods = []} = recording.content;
    const section = el("section", {className: "sanity", dataset: {output: output || ""}}, [
      el("h3", {textContent: `output ${output || shortTag(recording.tag)}`})]);
    container.append(section);
    const tag = `kerasfg/${recording.content.table}`;
    Promise.all([loadPictures(run, recording.tag, step), getJSON("table", {run, tag, step})])
      .then(([pictures, table]) => {
        const rows = table.rows.map((row) => Object.fromEntries(table.columns.map((c, i) => [c, row[i]])));
        const cascade = rows.filter((row) => row.mode === "cascading");
        section.append(sanityChart(cascade, layers.slice(1), state.sanityMetric));
        section.append(el("p", {className: "message", textContent: `maps of the first probe image: ${layers[0]}, ` +
          `then with the layers randomized down to ${layers.slice(1).join(", ")}`}));
        section.append(...pictures.map((picture, i) => el("figure", {className: "row"}, [
          el("figcaption", {textContent: methods[i] ?? `method ${i}`}),
          zoomable(picture.image.src, `${methods[i]}: trained, then randomized from the top`, "strip"),
        ])));
        section.dataset.rendered = "true";
      }).catch(showError);
  }
}

// === Confusion matrices ===

function confusionMatrixView(container) {
  const runs = runsWith("confusion_matrix");
  if (runs.length === 0) {
    container.append(message("No confusion matrices recorded yet: record them with " +
      "kerasfg.callbacks.ConfusionMatrix."));
    return;
  }
  const run = runs.includes(state.confusionRun) ? state.confusionRun : runs[0];
  const matrices = recordingsOf(run, "confusion_matrix");
  const steps = unionSteps(matrices);
  const index = Math.min(state.confusionStepIndex ?? steps.length - 1, steps.length - 1);
  const sections = el("div", {className: "matrices"});
  const draw = async (i) => {
    const step = steps[i];
    const shown = matrices.filter((r) => r.steps.includes(step));
    const drawn = await Promise.all(shown.map(async (recording) => {
      const tag = `kerasfg/${recording.content.counts}`;
      const counts = recording.content.counts &&
        (state.runs[run] || []).find((r) => r.tag === tag && r.kind === "table");
      return Promise.all([
        loadPictures(run, recording.tag, step),
        counts && counts.steps.includes(step) ? getJSON("table", {run, tag, step}) : null,
      ]);
    }));
    sections.replaceChildren(...shown.map((recording, m) => {
      const [pictures, table] = drawn[m];
      return el("section", {className: "matrix"}, [
        el("h3", {textContent: recording.content.output || shortTag(recording.tag)}),
        ...pictures.map((picture) => el("img", {
          className: "confusion", src: picture.image.src, alt: `confusion matrix of ${shortTag(recording.tag)}`,
        })),
        ...(table ? [el("table", {className: "scores counts"}, [
          el("thead", {}, [el("tr", {}, table.columns.map((c) => el("th", {textContent: c})))]),
          el("tbody", {}, table.rows.map((row) => el("tr", {}, row.map((value) => el("td", {
            textContent: formatCell(value),
          }))))),
        ])] : []),
      ]);
    }));
    sections.dataset.renderedStep = step;
  };
  container.append(el("div", {className: "controls"}, [
    select(runs.map((r) => [r, r]), run, (r) => {
      state.confusionRun = r;
      container.replaceChildren();
      confusionMatrixView(container);
    }, "Run"),
    stepSlider(steps, index, (i) => { state.confusionStepIndex = i; draw(i).catch(showError); }),
  ]), sections);
  draw(index).catch(showError);
}

// === Page ===

const RENDER = {
  explanations: explanationsView,
  activations: activationsView,
  deep_visualization: deepVisualizationView,
  deconvolution: deconvolutionView,
  faithfulness: faithfulnessView,
  sanity_checks: sanityChecksView,
  confusion_matrix: confusionMatrixView,
};

function showView() {
  for (const button of root.querySelectorAll("nav button")) {
    button.classList.toggle("active", button.dataset.view === state.view);
  }
  const container = root.querySelector("main");
  container.replaceChildren();
  container.dataset.view = state.view;
  if (Object.keys(state.runs).length === 0) {
    container.append(message("No kerasfg recordings in this log directory yet. Train with a kerasfg callback, " +
      "such as kerasfg.callbacks.AttentionMaps, writing under TensorBoard's --logdir."));
    return;
  }
  RENDER[state.view](container);
}

async function reload() {
  pictureCache.clear();
  try {
    state.runs = await getJSON("runs");
    root.querySelector(".status").hidden = true;
  } catch (error) {
    showError(error);
  }
  showView();
}

export async function render() {
  const style = el("link", {rel: "stylesheet", href: "./style.css"});
  document.head.append(style);
  // The Scalars dashboard is in TensorBoard's top-level page, at <prefix>/ above this plugin's base URL
  // <prefix>/data/plugin/kerasfg/.
  const scalars = new URL("../../../#scalars&tagFilter=progress", document.baseURI).href;
  root = el("div", {className: "kerasfg"}, [
    el("header", {}, [
      el("nav", {}, VIEWS.map(([view, title]) => el("button", {
        textContent: title, dataset: {view}, onclick: () => { state.view = view; showView(); },
      }))),
      el("a", {className: "scalars-link", href: scalars, target: "_top", textContent: "Training progress (Scalars)"}),
      el("button", {className: "reload", textContent: "Reload", onclick: reload}),
    ]),
    el("p", {className: "status", hidden: true}),
    el("main"),
  ]);
  document.body.append(root);
  await reload();
}
