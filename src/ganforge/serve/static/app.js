// The ganforge page: every control is built from what /api/models says a model declares (a class, codes,
// truncation, an input image, options), so the page knows no family. Plain DOM, no framework, no build step.
"use strict";

const state = { models: [], limits: {}, downloadUrl: null };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function current() {
  return state.models.find((m) => m.name === $("model").value);
}

function say(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

function integer(id) {
  const value = Number($(id).value);
  if (!Number.isInteger(value)) throw new Error(`${id}: a whole number, please`);
  return value;
}

function describe(model) {
  const parts = [`${model.family}`, `${model.resolution}×${model.resolution}`, `${model.channels} channel(s)`];
  if (model.step !== null && model.step !== undefined) parts.push(`step ${model.step} (${model.weights})`);
  parts.push(`inputs: ${Object.entries(model.inputs).map(([n, s]) => `${n} (${s.kind})`).join(", ")}`);
  return parts.join(" · ");
}

// The controls a model declares, rebuilt whenever the model changes.
function buildControls(model) {
  const box = $("declared");
  box.replaceChildren();
  $("model-info").textContent = describe(model);
  $("seeded-controls").hidden = !model.seeded;
  $("interp-section").hidden = !model.seeded;
  $("generate").textContent = model.seeded ? "Generate" : "Translate";
  if (model.class) {
    const select = el("select", { id: "class" }, [el("option", { value: "", text: "random" })]);
    for (let i = 0; i < model.class.classes; i++) select.append(el("option", { value: String(i), text: String(i) }));
    box.append(el("label", {}, ["Class ", select]));
  }
  if (model.truncation) {
    const toggle = el("input", { id: "truncation-on", type: "checkbox" });
    const slider = el("input", { id: "truncation", type: "range", min: "0.1", max: "3", step: "0.1", value: "1",
                                 "aria-label": "truncation psi" });
    const shown = el("output", { id: "truncation-value", for: "truncation", text: "1.0" });
    slider.addEventListener("input", () => { shown.textContent = Number(slider.value).toFixed(1); toggle.checked = true; });
    box.append(el("label", {}, [toggle, " Truncation ψ "]), el("label", {}, [slider, " ", shown]));
  }
  for (const code of model.codes) {
    if (code.kind === "categorical") {
      const select = el("select", { id: `code-${code.name}`, "data-code": code.name },
                        [el("option", { value: "", text: "random" })]);
      for (let i = 0; i < code.categories; i++) select.append(el("option", { value: String(i), text: String(i) }));
      box.append(el("label", {}, [`Code ${code.name} `, select]));
    } else {
      const toggle = el("input", { id: `code-${code.name}-on`, type: "checkbox" });
      const slider = el("input", { id: `code-${code.name}`, type: "range", "data-code": code.name,
                                   min: String(2 * code.low), max: String(2 * code.high), step: "0.1", value: "0",
                                   "aria-label": `code ${code.name}` });
      const shown = el("output", { text: "0.0" });
      slider.addEventListener("input", () => { shown.textContent = Number(slider.value).toFixed(1); toggle.checked = true; });
      box.append(el("label", {}, [toggle, ` Code ${code.name} `]), el("label", {}, [slider, " ", shown]));
    }
  }
  if (model.image_input) {
    const accept = "image/png,image/jpeg,image/webp";
    box.append(el("label", {}, [`Input ${model.image_input.kind === "labelmap" ? "label map" : "image"} `,
                                el("input", { id: "upload", type: "file", accept })]));
  }
  for (const option of model.options) {
    const select = el("select", { id: `option-${option.name}`, "data-option": option.name });
    for (const value of option.options) select.append(el("option", { value, text: value }));
    box.append(el("label", {}, [`${option.name} `, select]));
  }
  const others = state.models.filter((m) => m.name !== model.name && m.seeded === model.seeded && model.seeded);
  $("compare-section").hidden = others.length === 0;
  $("compare-model").replaceChildren(...others.map((m) => el("option", { value: m.name, text: m.name })));
}

// The JSON body of the current controls, for `model` (class and codes only where that model declares them).
function body(model, extra = {}) {
  const out = { model: model.name, ...extra };
  const label = $("class");
  if (label && label.value !== "" && model.class) out.class = Number(label.value);
  const truncation = $("truncation");
  if (truncation && $("truncation-on").checked && model.truncation) out.truncation = Number(truncation.value);
  const codes = {};
  for (const node of document.querySelectorAll("[data-code]")) {
    const name = node.dataset.code;
    if (!model.codes.some((c) => c.name === name)) continue;
    const toggle = $(`code-${name}-on`);
    if (node.tagName === "SELECT" ? node.value !== "" : toggle && toggle.checked) codes[name] = Number(node.value);
  }
  if (Object.keys(codes).length) out.codes = codes;
  return out;
}

async function request(url, init) {
  const started = performance.now();
  const reply = await fetch(url, init);
  const elapsed = performance.now() - started;
  if (!reply.ok) {
    let reason = `${reply.status} ${reply.statusText}`;
    try { reason = (await reply.json()).error || reason; } catch (e) { /* not JSON */ }
    throw new Error(reason);
  }
  const blob = await reply.blob();
  return { url: URL.createObjectURL(blob), blob, server: Number(reply.headers.get("X-Latency-Ms")), elapsed };
}

function postJson(url, data) {
  return request(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(data) });
}

function shown(image, reply) {
  return new Promise((resolve) => {
    image.onload = () => resolve();
    image.src = reply.url;
  });
}

function showLatency(reply, what) {
  $("latency").textContent = `${what}: ${reply.server.toFixed(1)} ms on the server, ${reply.elapsed.toFixed(0)} ms round trip`;
}

async function refreshDrift() {
  const model = current();
  try {
    const reply = await (await fetch("/api/drift")).json();
    const value = reply.models[model.name];
    const features = value && value.feature_distance !== undefined && value.feature_distance !== null
      ? `, ${model.drift_extractor} features ${value.feature_distance.toExponential(2)}` : "";
    $("drift").textContent = value ? `drift: ${value.distance.toExponential(2)}${features} over ${value.images} images`
                                   : (model.drift_reference ? "drift: no images yet" : "drift: no reference");
  } catch (e) { $("drift").textContent = "drift: unavailable"; }
}

async function generate(event) {
  event.preventDefault();
  const model = current();
  try {
    let reply;
    if (model.seeded) {
      reply = await postJson("/api/generate", body(model, { n: integer("count"), seed: integer("seed") }));
    } else {
      const file = $("upload").files[0];
      if (!file) throw new Error("choose an input image first");
      const form = new FormData();
      form.append("model", model.name);
      form.append("image", file);
      for (const node of document.querySelectorAll("[data-option]")) form.append(node.dataset.option, node.value);
      reply = await request("/api/translate", { method: "POST", body: form });
    }
    await shown($("result"), reply);
    if (state.downloadUrl) URL.revokeObjectURL(state.downloadUrl);
    state.downloadUrl = reply.url;
    $("download").href = reply.url;
    $("download").removeAttribute("aria-disabled");
    $("download").download = `${model.name}-seed${$("seed").value}.png`;
    showLatency(reply, model.seeded ? "generate" : "translate");
    say(`${model.name}: done`);
    refreshDrift();
  } catch (error) { say(error.message, true); }
}

async function interpolate(event) {
  event.preventDefault();
  const model = current();
  try {
    const reply = await postJson("/api/interpolate", body(model, {
      seed_a: integer("interp-a"), seed_b: integer("interp-b"), steps: integer("interp-steps") }));
    await shown($("strip"), reply);
    showLatency(reply, "interpolate");
    say(`${model.name}: interpolated`);
    refreshDrift();
  } catch (error) { say(error.message, true); }
}

async function compare(event) {
  event.preventDefault();
  const first = current();
  const second = state.models.find((m) => m.name === $("compare-model").value);
  try {
    const shared = { n: integer("count"), seed: integer("seed") };
    const [a, b] = await Promise.all([postJson("/api/generate", body(first, shared)),
                                      postJson("/api/generate", body(second, shared))]);
    await Promise.all([shown($("compare-a"), a), shown($("compare-b"), b)]);
    $("caption-a").textContent = `${first.name} (${a.server.toFixed(1)} ms)`;
    $("caption-b").textContent = `${second.name} (${b.server.toFixed(1)} ms)`;
    say(`compared ${first.name} and ${second.name} on seed ${shared.seed}`);
  } catch (error) { say(error.message, true); }
}

async function start() {
  try {
    const reply = await (await fetch("/api/models")).json();
    state.models = reply.models;
    state.limits = reply.limits;
    $("count").max = String(reply.limits.max_n);
    $("interp-steps").max = String(reply.limits.max_n);
    $("model").replaceChildren(...state.models.map((m) => el("option", { value: m.name, text: m.name })));
    $("model").addEventListener("change", () => { buildControls(current()); refreshDrift(); });
    buildControls(current());
    refreshDrift();
    say(`${state.models.length} model(s) served`);
  } catch (error) { say(`cannot list the models: ${error.message}`, true); }
  $("controls").addEventListener("submit", generate);
  $("interp-form").addEventListener("submit", interpolate);
  $("compare-form").addEventListener("submit", compare);
  $("random-seed").addEventListener("click", () => { $("seed").value = String(Math.floor(Math.random() * 2 ** 31)); });
}

start();
