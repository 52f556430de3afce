// The interactive walk-through's steps: each calculation (a div.calc with data-key) is one step; the steps
// before the current one stay visible, the later ones are hidden; the diagram highlights what the step is
// about (the JSON table bt-steps, by quantity key). Without this script the page shows every step.
(function () {
  "use strict";
  var table = JSON.parse(document.getElementById("bt-steps").textContent);
  var main = document.querySelector("main");
  var steps = Array.prototype.slice.call(main.querySelectorAll(".calc[data-key]"));
  if (!steps.length) return;
  var blocks = [];  // every child of main with the step from which it is shown
  var children = Array.prototype.slice.call(main.children);
  var next = steps.length - 1;
  for (var i = children.length - 1; i >= 0; i--) {
    var c = children[i];
    var own = c.matches(".calc[data-key]") ? [c] : Array.prototype.slice.call(c.querySelectorAll(".calc[data-key]"));
    if (own.length) next = steps.indexOf(own[0]);
    blocks.unshift({ el: c, from: next, own: own.length > 0 && c !== own[0] });
  }
  var marks = Array.prototype.slice.call(document.querySelectorAll("svg [data-node], svg [data-edge]"));
  var where = document.getElementById("bt-where");
  var current = 0, all = false;
  document.documentElement.classList.add("bt-js");
  document.getElementById("bt-controls").hidden = false;

  function mark(kind, list, cls) {
    (list || []).forEach(function (k) {
      marks.forEach(function (m) { if (m.getAttribute("data-" + kind) === String(k)) m.classList.add(cls); });
    });
  }
  function show(n, scroll) {
    current = Math.max(0, Math.min(steps.length - 1, n));
    blocks.forEach(function (b) { b.el.classList.toggle("bt-later", !all && b.from > current); });
    steps.forEach(function (s, k) {
      s.classList.toggle("bt-later", !all && k > current);
      s.classList.toggle("bt-current", k === current);
    });
    marks.forEach(function (m) { m.classList.remove("bt-hi", "bt-path"); });
    var step = steps[current];
    var info = table[step.getAttribute("data-key")] || {};
    mark("edge", info.pe, "bt-path");
    mark("node", info.pn, "bt-path");
    mark("edge", info.e, "bt-hi");
    mark("node", info.n, "bt-hi");
    marks.forEach(function (m) { if (m.classList.contains("bt-hi")) m.classList.remove("bt-path"); });
    where.textContent = "Step " + (current + 1) + " of " + steps.length + ": " + (info.t || "");
    document.getElementById("bt-prev").disabled = current === 0;
    document.getElementById("bt-next").disabled = current === steps.length - 1;
    document.getElementById("bt-all").textContent = all ? "Step by step" : "Show all";
    if (scroll) step.scrollIntoView({ block: "center" });
  }
  document.getElementById("bt-prev").addEventListener("click", function () { show(current - 1, true); });
  document.getElementById("bt-next").addEventListener("click", function () { show(current + 1, true); });
  document.getElementById("bt-all").addEventListener("click", function () { all = !all; show(current, true); });
  document.addEventListener("keydown", function (ev) {
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    var k = ev.key;
    if (k === "ArrowRight" || k === "n" || k === " " || k === "PageDown") show(current + 1, true);
    else if (k === "ArrowLeft" || k === "p" || k === "PageUp") show(current - 1, true);
    else if (k === "Home") show(0, true);
    else if (k === "End") show(steps.length - 1, true);
    else if (k === "a") { all = !all; show(current, true); }
    else return;
    ev.preventDefault();
  });
  steps.forEach(function (s, k) { s.addEventListener("click", function () { show(k, false); }); });
  show(0, false);
})();
