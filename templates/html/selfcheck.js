// The self-check's grader (fixed text; the page's script starts with BT_ROOT, the root's generated id, and
// BT_F, the derivation's local forms printed by SymPy's JavaScript printer). It mirrors the quiz
// (tutor/teach/quiz.py, diagnose.py): a box is graded with the answers of the boxes before it as the
// student's own earlier values, right (within the tolerance of the value or of the other rounding's value),
// credited (it follows from the student's own earlier wrong values), or wrong, with the misconception whose
// value (computed by the tutor) it matches.
"use strict";
var roots = document.querySelectorAll('[id="' + BT_ROOT + '"]');
Array.prototype.forEach.call(roots, function (root) {
  if (root.getAttribute("data-ready")) return;
  root.setAttribute("data-ready", "1");
  var D = JSON.parse(root.querySelector("script.bt-data").textContent);
  var Q = D.quantities, tol = D.tolerance;
  var NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
  var FORMS = "0.5933, .5933, 5.933e-1 or -0.0190";

  function parseNumber(text) {  // diagnose.parse_number
    var t = String(text).trim().replace(/\u2212/g, "-");
    if (t.length > 64) return null;
    if (t.indexOf(",") >= 0 && t.indexOf(".") < 0 && t.split(",").length === 2) t = t.replace(",", ".");
    if (!NUMBER.test(t)) return null;
    var v = Number(t);
    return isFinite(v) ? v : null;
  }
  function fixed(x, d) {  // rounding.format_fixed: the shortest decimal of x, rounded half away from zero
    if (!isFinite(x)) return String(x);
    var s = Math.abs(x).toString(), e = 0, i = s.indexOf("e");
    if (i >= 0) { e = parseInt(s.slice(i + 1), 10); s = s.slice(0, i); }
    var dot = s.indexOf("."), digits = s.replace(".", "");
    var keep = (dot < 0 ? s.length : dot) + e + d;  // how many of the digits stand before the cut
    var kept = [], up = false;
    if (keep >= 0) {
      for (var k = 0; k < keep; k++) kept.push(k < digits.length ? Number(digits.charAt(k)) : 0);
      up = keep < digits.length && digits.charAt(keep) >= "5";
    }
    for (var j = kept.length - 1; up && j >= 0; j--) {
      if (kept[j] === 9) kept[j] = 0; else { kept[j] += 1; up = false; }
    }
    if (up) kept.unshift(1);
    var str = kept.join("");
    while (str.length < d + 1) str = "0" + str;
    var out = d > 0 ? str.slice(0, str.length - d) + "." + str.slice(str.length - d) : str;
    out = out.replace(/^0+(?=\d)/, "");
    return (x < 0 && /[1-9]/.test(out) ? "-" : "") + out;
  }
  function round(x) {  // the walk's rounding (Rounder): as printed to D decimals, or exact
    if (D.digits === null || !(Math.abs(x) < 9007199254740992)) return x;
    return Number(fixed(x, D.digits)) + 0;
  }
  function unit(v) {  // diagnose.Tolerance.unit
    if (tol.mode === "dp" || v === 0 || !isFinite(v)) return Number("1e" + (-tol.places));
    return Number("1e" + (Math.floor(Math.log10(Math.abs(v))) - tol.places + 1));
  }
  function accepts(a, v) { return Math.abs(a - v) <= unit(v) * (1 + 1e-9); }
  function call(f, values) {  // StudentWorld.call: NaN outside a formula's domain, rounded like the engine
    var v;
    try { v = BT_F[f].apply(null, values); } catch (err) { return NaN; }
    if (typeof v !== "number" || !isFinite(v)) return NaN;
    return Math.abs(v) < 1e15 ? round(v) : v;
  }
  function World(known) {
    var memo = {};
    this.known = known;
    this.value = function (i) {
      if (i in known) return known[i];
      if (!(i in memo)) memo[i] = Q[i][0] < 0 ? Q[i][2] : call(Q[i][0], Q[i][1].map(this.value, this));
      return memo[i];
    };
    this.carried = function (i) { return Q[i][0] < 0 ? Q[i][2] : call(Q[i][0], Q[i][1].map(this.value, this)); };
  }
  function right(i, v) { return accepts(v, Q[i][2]) || accepts(v, Q[i][3]); }
  function upstream(world, i) {  // StudentWorld.upstream_mistakes, in computation order
    var seen = {}, wrong = [], stack = Q[i][1].slice();
    while (stack.length) {
      var k = stack.pop();
      if (seen[k]) continue;
      seen[k] = true;
      if (k in world.known) { if (!right(k, world.known[k])) wrong.push(k); }
      else if (Q[k][0] >= 0) stack.push.apply(stack, Q[k][1]);
    }
    return wrong.sort(function (a, b) { return a - b; });
  }
  function grade(question, answer, known) {  // diagnose.grade
    var i = question.q, world = new World(known), value = Q[i][2], expected = world.carried(i);
    if (right(i, answer)) return { verdict: "correct", expected: expected };
    if (accepts(answer, expected)) {
      var wrong = upstream(world, i);
      return { verdict: wrong.length ? "carried" : "correct", expected: expected, from: wrong };
    }
    var best = null;
    question.c.forEach(function (c) {
      if (accepts(answer, c.v) && (best === null || Math.abs(c.v - answer) < Math.abs(best.v - answer))) best = c;
    });
    return { verdict: "wrong", expected: expected, value: value, diagnosis: best };
  }
  function fmt(v) { return Math.abs(v) < 1e15 ? fixed(v, D.shown_digits) : v.toPrecision(4); }

  var boxes = D.questions.map(function (question) {
    return {
      question: question,
      input: root.querySelector('input[data-q="' + question.n + '"]'),
      out: root.querySelector('output[data-q="' + question.n + '"]')
    };
  });
  var score = root.querySelector(".bt-score");

  function regrade() {  // every box, in order, with the boxes before it as the student's earlier answers
    var known = {}, texts = {}, labels = {}, counts = { correct: 0, carried: 0, wrong: 0 };
    boxes.forEach(function (b) {
      var q = b.question, text = b.input.value.trim(), out = b.out;
      labels[q.q] = q.label;
      out.removeAttribute("data-misconception");
      if (!text) { out.textContent = ""; out.setAttribute("data-verdict", ""); return; }
      var v = parseNumber(text);
      if (v === null) {
        var shown = text.length <= 20 ? text : text.slice(0, 17) + "...";
        out.textContent = "'" + shown + "' is not a number: type a number such as " + FORMS + ".";
        out.setAttribute("data-verdict", "invalid");
        return;
      }
      var g = grade(q, v, known), msg;
      if (g.verdict === "correct") msg = "Right: " + q.label + " = " + q.shown + ".";
      else if (g.verdict === "carried") {
        msg = "Credited: " + text + " follows correctly from your earlier answer" + (g.from.length > 1 ? "s " : " ") +
          g.from.map(function (k) { return labels[k] + " = " + texts[k]; }).join(", ") +
          ". (From the right values, " + q.label + " = " + q.shown + ".)";
      } else {
        msg = "Not right: " + q.label + " = " + q.shown + ".";
        if (isFinite(g.expected) && !accepts(g.expected, g.value)) msg += " From your own earlier answers it would be " + fmt(g.expected) + ".";
        if (g.diagnosis) {
          msg += " It looks like " + g.diagnosis.d + ": " + g.diagnosis.t + ".";
          out.setAttribute("data-misconception", g.diagnosis.m);
        }
      }
      counts[g.verdict] += 1;
      out.textContent = msg;
      out.setAttribute("data-verdict", g.verdict);
      known[q.q] = v;
      texts[q.q] = text;
    });
    score.textContent = "Credited " + (counts.correct + counts.carried) + " of " + boxes.length +
      (counts.carried ? " (" + counts.carried + " from an earlier mistake)" : "") +
      (counts.wrong ? "; " + counts.wrong + " not right" : "") + ".";
  }
  boxes.forEach(function (b, k) {
    b.input.addEventListener("change", regrade);
    b.input.addEventListener("keydown", function (ev) {
      if (ev.key !== "Enter") return;
      ev.preventDefault();
      regrade();
      if (k + 1 < boxes.length) boxes[k + 1].input.focus();
    });
  });
  root.classList.add("bt-live");
  regrade();
});
