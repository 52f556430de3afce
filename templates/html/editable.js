// The editable walk-through (fixed text; the page's script starts with BT_F, the derivation's forms printed by
// SymPy's JavaScript printer). The JSON data bt-edit-data holds every quantity as [form, argument positions,
// value] in computation order; a given has form -1. Changing a given's field recomputes every quantity in
// that order (rounded as the walk carries its values) and rewrites every shown number that names a quantity
// (data-q) at the document's precision, marking the ones whose shown string changed. Training runs steps of
// the walk: each step's updated parameters (and optimizer state, and the step number) carry into the next.
"use strict";
var D = JSON.parse(document.getElementById("bt-edit-data").textContent);
var Q = D.q, N = Q.length;
var MATHML = "http://www.w3.org/1998/Math/MathML";
var NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
var NOISE = 1e-14, SCIENTIFIC_BELOW = 1e-4;
var panel = document.getElementById("bt-edit");
var msg = document.getElementById("bt-msg");
var fields = Array.prototype.slice.call(panel.querySelectorAll("input[data-q]"));
var hooks = Array.prototype.slice.call(document.querySelectorAll(".bt-v[data-q]"));
var isGiven = {};
D.given.forEach(function (i) { isGiven[i] = true; });
var spec = Q.map(function (q) { return q[2]; });  // the spec's values (givens) and the document's (the rest)
var current = spec.slice();  // the givens now in use (the rest is recomputed)
var values = spec.slice();

function carry(x) {  // spec.rounding.Rounder: the walk's values rounded as printed, or exact
  var d = D.carried;
  return d === null || !(Math.abs(x) < 9007199254740992) ? x : Number(fixed(paper(x), d)) + 0;
}
function magnitude(v) { return v ? Math.floor(Math.log10(Math.abs(v))) : 0; }

// notation._fmt_float: how the document writes a value (the mantissa and, below SCIENTIFIC_BELOW in an exact
// document, the power of ten); each quantity keeps the decimals the document gave it.
function shown(i, v, digits) {  // ``digits``: a picture's own (its values at fewer decimals)
  if (!isFinite(v)) return { m: "undefined" };
  if (D.digits === null) return { m: String(v) };
  if (v === 0) return { m: "0" };
  if (v === Math.trunc(v) && Math.abs(v) < 1e15) return { m: String(v) };
  var text;
  if (D.fixed) {
    text = fixed(v, D.digits);
    if (isGiven[i] && /^-?[0.]*$/.test(text)) {
      for (var p = D.digits; p < 21; p++) { if (Number(fixed(v, p)) === v) { text = fixed(v, p); break; } }
    }
    if (isGiven[i] && text.indexOf(".") >= 0) {
      var cut = text.replace(/0+$/, "").replace(/\.$/, "");
      if (Number(cut) === v) text = cut;
    }
    return { m: /^-?[0.]*$/.test(text) ? "0" : text };
  }
  var dec = digits !== undefined ? Math.max(digits, Math.min(digits, 3) - 1 - magnitude(v))
    : i in D.decimals ? D.decimals[i] : Math.max(D.digits, D.figures - 1 - magnitude(v));
  if (D.scientific && Math.abs(v) < SCIENTIFIC_BELOW) {
    var figures = Math.max(dec + magnitude(v) + 1, 1);
    var parts = v.toExponential(figures - 1).split("e"), m = parts[0];
    if (Math.abs(Number(m + "e" + parts[1]) - v) <= NOISE * Math.abs(v) && m.indexOf(".") >= 0) {
      m = m.replace(/0+$/, "").replace(/\.$/, "");
    }
    return { m: m, e: String(parseInt(parts[1], 10)) };
  }
  text = fixed(v, dec);
  if (text.indexOf(".") >= 0) {
    var short = text.replace(/0+$/, "").replace(/\.$/, "");
    if (Math.abs(Number(short) - v) <= NOISE * Math.abs(v)) text = short;
  }
  return { m: text };
}
function minus(t) { return t.replace(/-/g, "\u2212"); }
function text(s) {  // as notation writes a power of ten in text: 6.751·10⁻⁶
  var sup = "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079";
  return minus(s.m) + (s.e === undefined ? "" : "\u00b710" + s.e.replace(/-/g, "\u207b").replace(/\d/g, function (c) {
    return sup.charAt(Number(c));
  }));
}
function flat(s) { return minus(s.m) + (s.e !== undefined ? "\u00b710^" + s.e : ""); }

function el(name, text) {
  var e = document.createElementNS(MATHML, name);
  if (text !== undefined) e.textContent = text;
  return e;
}
function write(h, s, negative) {  // a hook's content: MathML in math, text in the diagram and tables
  while (h.firstChild) h.removeChild(h.firstChild);
  if (h.namespaceURI !== MATHML) {
    h.textContent = text(s);
    return;
  }
  var parens = h.hasAttribute("data-o") && (negative || s.e !== undefined);
  var row = parens ? el("mrow") : h;
  if (parens) row.appendChild(el("mo", "("));
  row.appendChild(el("mn", minus(s.m)));
  if (s.e !== undefined) {
    row.appendChild(el("mo", "\u00b7"));
    var sup = el("msup");
    sup.appendChild(el("mn", "10"));
    sup.appendChild(el("mn", minus(s.e)));
    row.appendChild(sup);
  }
  if (parens) { row.appendChild(el("mo", ")")); h.appendChild(row); }
}

function evaluate(into) {  // every computed quantity in computation order, from the givens in ``into``
  for (var i = 0; i < N; i++) {
    var q = Q[i];
    if (q[0] < 0) continue;
    var v;
    try { v = BT_F[q[0]].apply(null, q[1].map(function (a) { return into[a]; })); } catch (err) { v = NaN; }
    if (typeof v === "boolean") v = v ? 1 : 0;
    into[i] = typeof v === "number" && isFinite(v) ? carry(v) : NaN;
  }
}
function compute() {  // every quantity from the givens now in use
  for (var i = 0; i < N; i++) if (Q[i][0] < 0) values[i] = current[i];
  evaluate(values);
  D.rerun.forEach(function (r) {  // a value of the forward pass run again with givens replaced
    var again = values.slice();
    r[2].forEach(function (p) { again[p[0]] = values[p[1]]; });
    evaluate(again);
    values[r[0]] = again[r[1]];
  });
}
function hookDigits(h) { return h.hasAttribute("data-d") ? Number(h.getAttribute("data-d")) : undefined; }
hooks.forEach(function (h) {
  var i = Number(h.getAttribute("data-q"));
  h.btShown = flat(shown(i, spec[i], hookDigits(h)));
});
function render(mark) {  // every shown number from the values; ``mark``: mark the ones whose string changed
  var bad = false;
  hooks.forEach(function (h) {
    var i = Number(h.getAttribute("data-q")), s = shown(i, values[i], hookDigits(h)), text = flat(s);
    if (!isFinite(values[i])) bad = true;
    if (mark) h.classList.remove("bt-changed");
    if (text === h.btShown) return;
    write(h, s, values[i] < 0);
    h.btShown = text;
    if (mark) h.classList.add("bt-changed");
  });
  msg.textContent = bad ? "A value left the range where its formula is defined: it is shown as undefined." : "";
}
function showFields() {
  fields.forEach(function (f) {
    var i = Number(f.getAttribute("data-q"));
    if (Number(f.value) !== current[i]) f.value = String(current[i]);
    f.classList.toggle("bt-edited", current[i] !== spec[i]);
    f.classList.remove("bt-bad");
  });
}

// -- training -------------------------------------------------------------------------------------------------
var curve = document.getElementById("bt-curve");
var where = document.getElementById("bt-train-where");
var losses = [], start = null, left = 0, timer = null, stepNo = 1;
var SVGNS = "http://www.w3.org/2000/svg";
function svg(name, attrs, text) {
  var e = document.createElementNS(SVGNS, name);
  for (var a in attrs) e.setAttribute(a, attrs[a]);
  if (text !== undefined) e.textContent = text;
  return e;
}
function drawCurve() {
  while (curve.firstChild) curve.removeChild(curve.firstChild);
  var pts = D.loss >= 0 ? losses.concat([values[D.loss]]) : [];
  var W = 300, H = 160, L = 52, R = 8, T = 10, B = 24;
  curve.appendChild(svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#555" }));
  curve.appendChild(svg("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#555" }));
  if (!pts.length || !pts.every(isFinite)) return;
  var lo = Math.min.apply(null, pts), hi = Math.max.apply(null, pts);
  if (hi === lo) { hi += Math.abs(hi) * 0.05 + 1e-12; lo -= Math.abs(lo) * 0.05 + 1e-12; }
  var n = Math.max(pts.length - 1, 1);
  var xy = pts.map(function (p, k) {
    return (L + (W - L - R) * k / n).toFixed(2) + "," + (T + (H - T - B) * (hi - p) / (hi - lo)).toFixed(2);
  });
  curve.appendChild(svg("polyline", { points: xy.join(" "), fill: "none", stroke: "#1f5fa8", "stroke-width": 2 }));
  function tick(x) {  // four figures; a loss near 0 or past 10^5 with its exponent, to fit beside the axis
    var a = Math.abs(x);
    return a === 0 || (a >= 1e-3 && a < 1e5) ? x.toPrecision(4) : x.toExponential(2);
  }
  curve.appendChild(svg("text", { x: L - 4, y: T + 4, "text-anchor": "end", "font-size": 10 }, tick(hi)));
  curve.appendChild(svg("text", { x: L - 4, y: H - B, "text-anchor": "end", "font-size": 10 }, tick(lo)));
  curve.appendChild(svg("text", { x: W - R, y: H - 8, "text-anchor": "end", "font-size": 10 }, "step " + (pts.length)));
  curve.appendChild(svg("text", { x: L, y: H - 8, "font-size": 10 }, D.loss_name + ", step 1"));
}
function showWhere() {
  where.textContent = "Step " + stepNo + (losses.length ? " after " + losses.length + " update" + (losses.length === 1 ? "" : "s") : ", before any update") + (D.loss >= 0 ? "; " + D.loss_name + " " + text(shown(D.loss, values[D.loss])) : "") + ".";
  panel.setAttribute("data-step", String(stepNo));
}
function trainOne() {  // one step: the updated parameters (and state) become the next step's givens
  if (start === null) start = current.slice();
  if (D.loss >= 0) losses.push(values[D.loss]);
  var next = D.carry.map(function (c) { return values[c[1]]; });
  D.carry.forEach(function (c, k) { current[c[0]] = next[k]; });
  if (D.counter >= 0) current[D.counter] += 1;
  stepNo += 1;
  compute();
}
function stop() {
  if (timer !== null) clearTimeout(timer);
  timer = null;
  left = 0;
  panel.removeAttribute("data-running");
  document.getElementById("bt-pause").disabled = true;
}
function tick() {  // a few steps a frame, so that the curve is drawn as training goes
  timer = null;
  var burst = Math.min(left, 5);
  for (var k = 0; k < burst; k++) trainOne();
  left -= burst;
  render(true);
  showFields();
  drawCurve();
  showWhere();
  if (left > 0 && values.every(function (v) { return isFinite(v); })) timer = setTimeout(tick, 16);
  else stop();
}
function run(n) {
  if (!D.carry.length) { msg.textContent = "Nothing to train: this network has no parameter the step updates."; return; }
  left += n;
  panel.setAttribute("data-running", "1");
  document.getElementById("bt-pause").disabled = false;
  if (timer === null) timer = setTimeout(tick, 0);
}
[1, 10, 100].forEach(function (n) {
  document.getElementById("bt-run" + n).addEventListener("click", function () { run(n); });
});
document.getElementById("bt-pause").addEventListener("click", stop);
document.getElementById("bt-reset").addEventListener("click", function () {
  stop();
  if (start !== null) current = start.slice();
  start = null;
  losses = [];
  stepNo = 1;
  compute(); render(true); showFields(); drawCurve(); showWhere();
});

// -- editing --------------------------------------------------------------------------------------------------
function edited(f) {
  var t = String(f.value).trim().replace(/\u2212/g, "-");
  var v = t.length <= 64 && NUMBER.test(t) ? Number(t) : NaN;
  if (!isFinite(v)) {
    f.classList.add("bt-bad");
    msg.textContent = "Type a number, such as 0.15, -2 or 1e-3.";
    return;
  }
  f.classList.remove("bt-bad");
  msg.textContent = "";
  if (v === current[Number(f.getAttribute("data-q"))]) return;  // the same value again (the field lost focus)
  current[Number(f.getAttribute("data-q"))] = v;
  stop();
  start = null;  // training starts again from the edited values
  losses = [];
  stepNo = 1;
  compute();
  render(true);
  f.classList.toggle("bt-edited", v !== spec[Number(f.getAttribute("data-q"))]);
  drawCurve();
  showWhere();
}
fields.forEach(function (f) {
  f.addEventListener("change", function () { edited(f); });
  f.addEventListener("keydown", function (ev) { if (ev.key === "Enter") { edited(f); ev.stopPropagation(); } });
  f.addEventListener("keyup", function (ev) { ev.stopPropagation(); });
});
// the stepper's keys (space, arrows, n, p, a) are for the page, not for a field being typed in
panel.addEventListener("keydown", function (ev) { ev.stopPropagation(); });
document.getElementById("bt-restore").addEventListener("click", function () {
  stop();
  current = spec.slice();
  start = null;
  losses = [];
  stepNo = 1;
  compute(); render(true); showFields(); drawCurve(); showWhere();
});
document.getElementById("bt-train").hidden = !D.carry.length;
compute();
drawCurve();
showWhere();
