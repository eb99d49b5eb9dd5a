// vidcolor hints page: the contact sheet, and an editor of one shot's colour hints.
"use strict";

const $ = (id) => document.getElementById(id);
let shots = [];
let current = null; // the shot being edited
let hints = []; // its hints: {x, y, radius, lab: [L, a, b], alike}
let selected = -1;
let version = 0;
let maxReference = 32 << 20; // the server's limit on a reference photo's file

// sRGB <-> CIE Lab (D65), as OpenCV computes it for floats.
function srgbToLinear(c) { return c <= 0.04045 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); }
function linearToSrgb(c) { return c <= 0.0031308 ? 12.92 * c : 1.055 * Math.pow(c, 1 / 2.4) - 0.055; }
function hexToLab(hex) {
  const v = [1, 3, 5].map((i) => srgbToLinear(parseInt(hex.substr(i, 2), 16) / 255));
  const x = (0.412453 * v[0] + 0.357580 * v[1] + 0.180423 * v[2]) / 0.950456;
  const y = 0.212671 * v[0] + 0.715160 * v[1] + 0.072169 * v[2];
  const z = (0.019334 * v[0] + 0.119193 * v[1] + 0.950227 * v[2]) / 1.088754;
  const f = (t) => (t > 0.008856 ? Math.cbrt(t) : 7.787 * t + 16 / 116);
  const L = y > 0.008856 ? 116 * Math.cbrt(y) - 16 : 903.3 * y;
  return [L, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))];
}
function labToHex(lab) {
  const fy = (lab[0] + 16) / 116, fx = fy + lab[1] / 500, fz = fy - lab[2] / 200;
  const inv = (t) => (t > 0.206893 ? t * t * t : (t - 16 / 116) / 7.787);
  const x = inv(fx) * 0.950456, y = inv(fy), z = inv(fz) * 1.088754;
  const rgb = [3.240479 * x - 1.53715 * y - 0.498535 * z,
               -0.969256 * x + 1.875991 * y + 0.041556 * z,
               0.055648 * x - 0.204043 * y + 1.057311 * z];
  return "#" + rgb.map((c) => {
    const n = Math.round(255 * Math.min(1, Math.max(0, linearToSrgb(Math.max(0, c)))));
    return n.toString(16).padStart(2, "0");
  }).join("");
}

async function loadShots() {
  const res = await fetch("/api/shots");
  const data = await res.json();
  if (!res.ok) { // e.g. the server was restarted: its token, and so the address, changed
    $("title").textContent = data.error;
    return;
  }
  shots = data.shots;
  maxReference = data.max_reference_bytes || maxReference;
  $("title").textContent = `${data.source || "preview"}: ${shots.length} shots`;
  const sheet = $("sheet");
  sheet.textContent = "";
  for (const s of shots) {
    const card = document.createElement("figure");
    card.className = "card";
    card.id = `shot-${s.shot}`;
    card.dataset.shot = s.shot;
    const img = document.createElement("img");
    img.src = `/api/still/${s.shot}.png?v=${version}`;
    img.alt = `shot ${s.shot}`;
    const cap = document.createElement("figcaption");
    cap.textContent = `Shot ${s.shot} · ${s.start_timecode} – ${s.end_timecode} · ` +
      `${s.hints.length} hint${s.hints.length === 1 ? "" : "s"}` +
      (s.reference ? " · reference" : "");
    card.append(img, cap);
    card.addEventListener("click", () => openShot(s.shot));
    acceptDrops(card, async (file) => {
      $("message").textContent = `sending ${file.name} to shot ${s.shot}…`;
      try {
        await sendReference(s.shot, file);
        $("message").textContent = "";
        version++;
        await loadShots();
      } catch (err) {
        $("message").textContent = `shot ${s.shot}: ${err.message}`;
      }
    });
    sheet.append(card);
  }
}

function openShot(number) {
  current = shots.find((s) => s.shot === number);
  hints = current.hints.map((h) => ({x: h.x, y: h.y, radius: h.radius, lab: h.lab,
                                    alike: h.alike !== false}));
  selected = -1;
  $("sheet").hidden = true;
  $("editor").hidden = false;
  $("shot-title").textContent = `Shot ${number} (frame ${current.preview_frame})`;
  $("reference-status").textContent = "";
  showReference();
  showStill();
}

// A reference photo: dropped on a shot's card or its editor, or chosen with the file input.
function acceptDrops(element, take) {
  element.addEventListener("dragover", (e) => {
    if (![...e.dataTransfer.types].includes("Files")) return;
    e.preventDefault();
    element.classList.add("dropping");
  });
  element.addEventListener("dragleave", () => element.classList.remove("dropping"));
  element.addEventListener("drop", (e) => {
    e.preventDefault();
    e.stopPropagation();
    element.classList.remove("dropping");
    const file = e.dataTransfer.files[0];
    if (file) take(file);
  });
}

async function sendReference(number, file) {
  if (file.size > maxReference) {
    throw new Error(`${file.name} is too large: a reference may be at most ` +
                    `${maxReference >> 20} MB`);
  }
  let res;
  try {
    res = await fetch(`/api/reference/${number}?name=${encodeURIComponent(file.name)}`, {
      method: "PUT",
      headers: {"Content-Type": "application/octet-stream"},
      body: file,
    });
  } catch (err) {
    throw new Error(`could not send ${file.name} (is vidcolor hints still running?)`);
  }
  const data = await res.json().catch(() => ({error: `the server answered ${res.status}`}));
  if (!res.ok) throw new Error(data.error);
  return data.reference;
}

async function takeReference(file) {
  const number = current.shot;
  $("reference-status").textContent = `sending ${file.name}…`;
  try {
    const name = await sendReference(number, file);
    if (current.shot !== number) return;
    current.reference = name;
    $("reference-status").textContent = "";
  } catch (err) {
    $("reference-status").textContent = "error: " + err.message;
    return;
  } finally {
    $("reference-file").value = "";
  }
  showReference();
  showStill();
}

function showReference() {
  const img = $("reference");
  img.hidden = !current.reference;
  $("remove-reference").hidden = !current.reference;
  if (current.reference) {
    img.src = `/api/reference/${current.shot}.png?v=${++version}`;
    img.title = current.reference;
  } else {
    img.removeAttribute("src");
  }
}

function showStill() {
  $("status").textContent = "colorizing…";
  const img = $("still");
  img.onload = () => { drawDots(); $("status").textContent = "saved"; };
  img.onerror = async () => { // e.g. a reference put in the folder by hand that is gray
    const res = await fetch(img.src);
    $("status").textContent = "error: " + ((await res.json().catch(() => ({}))).error ||
                                           `the still could not be made (${res.status})`);
  };
  img.src = `/api/still/${current.shot}.png?v=${++version}`;
}

function drawDots() {
  const canvas = $("canvas");
  canvas.querySelectorAll(".dot").forEach((d) => d.remove());
  const img = $("still");
  const scale = img.clientWidth / img.naturalWidth;
  hints.forEach((h, i) => {
    const dot = document.createElement("button");
    dot.type = "button";
    dot.className = "dot" + (i === selected ? " selected" : "");
    dot.style.left = `${h.x * scale}px`;
    dot.style.top = `${h.y * scale}px`;
    dot.style.background = labToHex(h.lab);
    dot.dataset.index = i;
    dot.addEventListener("pointerdown", (e) => startDrag(e, i));
    canvas.append(dot);
  });
  $("delete").disabled = selected < 0;
}

function imagePoint(e) {
  const img = $("still");
  const rect = img.getBoundingClientRect();
  const k = img.naturalWidth / rect.width;
  return [Math.min(img.naturalWidth - 1, Math.max(0, (e.clientX - rect.left) * k)),
          Math.min(img.naturalHeight - 1, Math.max(0, (e.clientY - rect.top) * k))];
}

async function save() {
  $("status").textContent = "saving…";
  const res = await fetch(`/api/hints/${current.shot}`, {
    method: "PUT",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify(hints),
  });
  if (!res.ok) {
    $("status").textContent = "error: " + (await res.json()).error;
    return;
  }
  current.hints = (await res.json()).hints;
  showStill();
}

function select(i) {
  selected = i;
  if (i >= 0) {
    $("color").value = labToHex(hints[i].lab);
    $("radius").value = Math.round(hints[i].radius);
    $("alike").checked = hints[i].alike;
  }
  drawDots();
}

function startDrag(e, i) {
  e.preventDefault();
  e.stopPropagation();
  select(i);
  let moved = false;
  const move = (ev) => {
    [hints[i].x, hints[i].y] = imagePoint(ev);
    moved = true;
    drawDots();
  };
  const up = () => {
    window.removeEventListener("pointermove", move);
    window.removeEventListener("pointerup", up);
    if (moved) save();
  };
  window.addEventListener("pointermove", move);
  window.addEventListener("pointerup", up);
}

$("still").addEventListener("click", (e) => {
  const [x, y] = imagePoint(e);
  hints.push({x, y, radius: Number($("radius").value), lab: hexToLab($("color").value),
              alike: $("alike").checked});
  select(hints.length - 1);
  save();
});

$("color").addEventListener("input", () => {
  if (selected < 0) return;
  hints[selected].lab = hexToLab($("color").value);
  drawDots();
});
$("color").addEventListener("change", () => { if (selected >= 0) save(); });
$("radius").addEventListener("change", () => {
  if (selected < 0) return;
  hints[selected].radius = Number($("radius").value);
  save();
});
$("alike").addEventListener("change", () => {
  if (selected < 0) return;
  hints[selected].alike = $("alike").checked;
  save();
});
$("gray").addEventListener("click", () => {
  $("color").value = "#808080";
  if (selected >= 0) { hints[selected].lab = [hints[selected].lab[0], 0, 0]; save(); }
});
$("pick-model").addEventListener("click", () => {
  // The automatic still (the preview's image): the colour the model gave at the point.
  if (selected < 0) return;
  const auto = new Image();
  auto.onload = () => {
    const c = document.createElement("canvas");
    c.width = auto.naturalWidth;
    c.height = auto.naturalHeight;
    const ctx = c.getContext("2d");
    ctx.drawImage(auto, 0, 0);
    const h = hints[selected];
    const p = ctx.getImageData(Math.round(h.x), Math.round(h.y), 1, 1).data;
    const hex = "#" + [p[0], p[1], p[2]].map((v) => v.toString(16).padStart(2, "0")).join("");
    $("color").value = hex;
    h.lab = hexToLab(hex);
    save();
  };
  auto.src = `/files/${encodeURIComponent(current.image)}`;
});
function removeSelected() {
  if (selected < 0) return;
  hints.splice(selected, 1);
  selected = -1;
  save();
}
$("delete").addEventListener("click", removeSelected);
document.addEventListener("keydown", (e) => {
  if ((e.key === "Delete" || e.key === "Backspace") && !$("editor").hidden) removeSelected();
});
$("back").addEventListener("click", async () => {
  $("editor").hidden = true;
  $("sheet").hidden = false;
  await loadShots();
});
$("reference-file").addEventListener("change", () => {
  const file = $("reference-file").files[0];
  if (file) takeReference(file);
});
acceptDrops($("reference-pane"), takeReference);
acceptDrops($("canvas"), takeReference);
$("remove-reference").addEventListener("click", async () => {
  const res = await fetch(`/api/reference/${current.shot}`, {method: "DELETE"});
  if (!res.ok) {
    $("reference-status").textContent = "error: " + (await res.json()).error;
    return;
  }
  current.reference = null;
  $("reference-status").textContent = "reference removed";
  showReference();
  showStill();
});
window.addEventListener("resize", drawDots);
loadShots();
