// The page: an image (picked, dropped or drawn) goes to /predict for the class probabilities
// and to /inspect for the network's view and the activation maps. Only the newest change is drawn.
"use strict";

const $ = (id) => document.getElementById(id);
let model = null;
let latest = 0;            // number of the newest request; older answers are dropped

function setStatus(state, text) {
  const el = $("status");
  el.dataset.state = state;
  el.textContent = text;
}

async function post(url, blob, name) {
  const form = new FormData();
  form.append("file", blob, name);
  const response = await fetch(url, { method: "POST", body: form });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    throw new Error(`${response.status}: ${detail || response.statusText}`);
  }
  return body;
}

async function classify(blob, name) {
  const mine = ++latest;
  setStatus("busy", `classifying ${name}…`);
  try {
    const [pred, view] = await Promise.all([
      post(`/predict?top=${model.classes.length}`, blob, name),
      post("/inspect", blob, name),
    ]);
    if (mine !== latest) return;
    showProbabilities(pred.predictions[0].top);
    showView(view);
    showLayers(view);
    $("source").textContent = name;
    document.body.dataset.source = name;
    setStatus("ready", `${name}: ${pred.predictions[0].top[0].class}`);
  } catch (err) {
    if (mine === latest) setStatus("error", err.message);
  }
}

function showProbabilities(top) {
  const byClass = new Map(top.map((t) => [t.class, t.probability]));
  const best = top[0].class;
  const list = $("bars");
  list.replaceChildren(...model.classes.map((name) => {
    const p = byClass.get(name) ?? 0;
    const row = document.createElement("li");
    row.className = "bar-row" + (name === best ? " top" : "");
    row.dataset.class = name;
    row.dataset.probability = String(p);
    row.innerHTML = '<span class="name"></span><span class="track"><span class="fill"></span></span><span class="value"></span>';
    row.querySelector(".name").textContent = name;
    row.querySelector(".name").title = name;
    row.querySelector(".fill").style.width = `${(p * 100).toFixed(2)}%`;
    row.querySelector(".value").textContent = `${(p * 100).toFixed(2)}%`;
    return row;
  }));
}

function showView(view) {
  $("network-view").src = view.input.image;
  const [c, h, w] = view.input.shape;
  $("view-caption").textContent =
    `${w}×${h}×${c}, values ${view.input.min.toFixed(2)} … ${view.input.max.toFixed(2)} after normalising`;
}

function showLayers(view) {
  $("layers").replaceChildren(...view.layers.map((layer) => {
    const fig = document.createElement("figure");
    const img = document.createElement("img");
    img.src = layer.image;
    img.alt = `${layer.name} ${layer.kind}`;
    const cap = document.createElement("figcaption");
    cap.textContent = `${layer.name} ${layer.kind} ${layer.shape.join("×")}`;
    fig.append(img, cap);
    return fig;
  }));
  if (view.note) $("layers-note").textContent = view.note;
}

function setupFiles() {
  const drop = $("drop");
  $("file").addEventListener("change", (e) => {
    const file = e.target.files[0];
    if (file) classify(file, file.name);
  });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer.files[0];
    if (file) classify(file, file.name);
  });
}

function setupPad() {
  const pad = $("pad");
  const ctx = pad.getContext("2d");
  const clear = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, pad.width, pad.height); };
  clear();
  let drawing = false;
  let last = null;
  let timer = null;
  const send = () => pad.toBlob((blob) => classify(blob, "drawing.png"), "image/png");
  const point = (e) => {
    const r = pad.getBoundingClientRect();
    return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
  };
  pad.addEventListener("pointerdown", (e) => {
    drawing = true;
    last = point(e);
    pad.setPointerCapture(e.pointerId);
  });
  pad.addEventListener("pointermove", (e) => {
    if (!drawing) return;
    const p = point(e);
    ctx.strokeStyle = "#fff";
    ctx.lineCap = "round";
    ctx.lineWidth = Number($("brush").value);
    ctx.beginPath();
    ctx.moveTo(...last);
    ctx.lineTo(...p);
    ctx.stroke();
    last = p;
    if (!timer) timer = setTimeout(() => { timer = null; send(); }, 150);   // live, but throttled
  });
  pad.addEventListener("pointerup", () => { if (drawing) { drawing = false; send(); } });
  $("clear").addEventListener("click", () => { clear(); send(); });
}

async function main() {
  try {
    model = await (await fetch("/model")).json();
  } catch (err) {
    setStatus("error", `cannot reach the server: ${err.message}`);
    return;
  }
  const { channels, height, width } = model.input;
  $("model-line").textContent = `${model.name} (${model.runtime}) · ${model.classes.length} classes · ` +
    `input ${width}×${height}×${channels} · ${model.parameters.toLocaleString("en")} parameters`;
  setupFiles();
  setupPad();
  document.body.dataset.ready = "true";
}

main();
