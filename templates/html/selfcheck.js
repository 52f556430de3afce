// The self-check's grader (fixed text; the page's script starts with BT_ROOT, the root's generated id, and
// BT_F, the forms of the derivation and of its misconceptions printed by SymPy's JavaScript printer). It runs
// the decision of the grading core (tutor/teach/grading.py, Grader.grade) on the core's own data: the values
// that count as right and the confusable ones, carried-forward credit through the arguments a form uses, the
// plausibility guard on credited answers and on what an answer leads to, the misconceptions' recipes evaluated
// in the student's own values, tries and the hint ladder with its cost. root.btGrade(answers) grades a list of
// [question number, typed text] as the terminal quiz does, for checking the two against each other.
"use strict";
var roots = document.querySelectorAll('[id="' + BT_ROOT + '"]');
Array.prototype.forEach.call(roots, function (root) {
  if (root.getAttribute("data-ready")) return;
  root.setAttribute("data-ready", "1");
  var D = JSON.parse(root.querySelector("script.bt-data").textContent);
  var Q = D.quantities, tol = D.tolerance, QS = D.questions, LEVELS = 3;
  var NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
  var FORMS = "0.5933, .5933, 5.933e-1 or -0.0190";
  var GENERIC_KNOWN = {};
  D.given.forEach(function (i) { GENERIC_KNOWN[i] = Q[i][2]; });
  var byQ = {};
  QS.forEach(function (q, k) { byQ[q.q] = k; });

  function parseNumber(text) {  // diagnose.parse_number
    var t = String(text).trim().replace(/\u2212/g, "-");
    if (t.length > 64) return null;
    if (t.indexOf(",") >= 0 && t.indexOf(".") < 0 && t.split(",").length === 2) t = t.replace(",", ".");
    if (!NUMBER.test(t)) return null;
    var v = Number(t);
    return isFinite(v) ? v : null;
  }
  function rounder(d) {  // spec.rounding.Rounder (round_half_away)
    return function (x) {
      return d === null || d === undefined || !(Math.abs(x) < 9007199254740992) ? x : Number(fixed(paper(x), d)) + 0;
    };
  }
  var carry = rounder(D.digits);
  function unit(v) {  // diagnose.Tolerance.unit
    if (tol.mode === "dp" || v === 0 || !isFinite(v)) return Number("1e" + (-tol.places));
    return Number("1e" + (Math.floor(Math.log10(Math.abs(v))) - tol.places + 1));
  }
  function accepts(a, v) { return Math.abs(a - v) <= unit(v) * (1 + 1e-9); }
  function within(a, v, near) {  // Grader.within
    if (!accepts(a, v)) return false;
    for (var k = 0; k < near.length; k++) if (Math.abs(a - near[k]) < Math.abs(a - v)) return false;
    return true;
  }
  function isRight(i, a) {  // Grader.is_right
    var q = QS[byQ[i]];
    for (var k = 0; k < q.rights.length; k++) if (within(a, q.rights[k], q.near)) return true;
    return false;
  }
  function decimals(t) { return t.indexOf(".") >= 0 ? t.split(".")[1].length : 0; }
  function agreesAsPrinted(v, t) { var d = decimals(t); return fixed(v, d) === fixed(Number(t), d); }
  function call(f, values) {  // World.call: NaN outside a formula's domain, rounded like the walk
    var v;
    try { v = BT_F[f].apply(null, values); } catch (err) { return NaN; }
    if (typeof v === "boolean") v = v ? 1 : 0;
    if (typeof v !== "number" || !isFinite(v)) return NaN;
    return Math.abs(v) < 1e15 ? carry(v) : v;
  }
  function World(known) {  // grading.World
    var memo = {}, self = this;
    this.known = known;
    this.value = function (i) {
      if (i in known) return known[i];
      if (!(i in memo)) memo[i] = self.carried(i);
      return memo[i];
    };
    this.carried = function (i) { return Q[i][0] < 0 ? Q[i][2] : call(Q[i][0], Q[i][1].map(self.value)); };
    this.evaluate = function (key, overrides) {
      var m = {};
      function val(k, top) {
        if (k in overrides) return overrides[k];
        if (!top && k in known) return known[k];
        if (!(k in m)) m[k] = Q[k][0] < 0 ? Q[k][2] : call(Q[k][0], Q[k][1].map(function (a) { return val(a, false); }));
        return m[k];
      }
      return val(key, true);
    };
  }
  function merge(a, b) { var o = {}, k; for (k in a) o[k] = a[k]; for (k in b) o[k] = b[k]; return o; }
  function upstreamKnown(i, known) {  // Grader.upstream_known, in computation order
    var seen = {}, found = [], stack = Q[i][3].slice();
    while (stack.length) {
      var k = stack.pop();
      if (seen[k]) continue;
      seen[k] = true;
      if (k in known) found.push(k);
      else if (Q[k][0] >= 0) stack.push.apply(stack, Q[k][3]);
    }
    return found.sort(function (a, b) { return a - b; });
  }
  function steps(i, known) {  // Grader.steps
    var out = {}, given = {}, frontier = [i];
    D.given.forEach(function (g) { given[g] = true; });
    out[i] = true;
    for (var depth = 0; depth < 3; depth++) {
      var next = [];
      frontier.forEach(function (k) {
        Q[k][1].forEach(function (a) {
          if (out[a] || a in known || Q[a][0] < 0) return;
          out[a] = true;
          if (!given[a]) next.push(a);
        });
      });
      frontier = next;
    }
    return out;
  }
  function reference(i) { return QS[byQ[i]].rights[0]; }
  function fmt(v) {
    var d = tol.mode === "dp" ? tol.places : Math.max(D.digits === null ? 4 : D.digits, 4);
    return Math.abs(v) < 1e15 ? fixed(v, d) : v.toPrecision(4);
  }
  function implausible(i, v, shown) {  // Grader.implausible
    var q = QS[byQ[i]], name = q.label + " = " + shown, g = q.guard;
    if (!isFinite(v)) return name + " is not a number any step can produce";
    var bad = (g[0] !== null && (v < g[0] || (v === g[0] && g[2]))) || (g[1] !== null && (v > g[1] || (v === g[1] && g[3])));
    if (bad) return /^(negative|no )/.test(g[4]) ? name + " is " + g[4] : name + " is not " + g[4];
    var right = reference(i), u = unit(right);
    if (Math.abs(v) > 100 * Math.max(Math.abs(right), 10 * u)) return name + " is more than a hundred times the size it can have here";
    if (Math.abs(right) >= 100 * u && Math.abs(v) < Math.abs(right) / 100) return name + " is less than a hundredth of the size it has here";
    return "";
  }
  function trivialises(i, v, text, known) {  // Grader.trivialises
    var k = {}; k[i] = v;
    var world = new World(merge(merge(GENERIC_KNOWN, known), k)), down = QS[byQ[i]].down;
    for (var n = 0; n < down.length; n++) {
      var d = down[n];
      if (d in known) continue;
      var e = world.value(d), why = implausible(d, e, isFinite(e) ? fmt(e) : "undefined");
      if (why) return "with " + QS[byQ[i]].label + " = " + text + ", " + why;
    }
    return "";
  }
  function candidates(q, world, allowed) {  // Grader.candidates
    var out = [];
    q.recipes.forEach(function (r) {
      if (!allowed[r[1]]) return;
      var v;
      if (r[6] !== null) {
        var x = world.value(r[5][0]);
        v = Math.abs(x) < 1e15 ? rounder(r[6])(x) : x;
        if (v === x) return;
      } else v = call(r[4], r[5].map(world.value));
      var value = r[2] === q.q ? v : world.evaluate(q.q, (function () { var o = {}; o[r[2]] = v; return o; })());
      if (isFinite(value)) out.push({ m: r[0], step: r[1], t: r[3], v: value });
    });
    return out;
  }
  function matches(a, text, v) {  // Grader._matches
    if (accepts(a, v)) return true;
    var t = text.trim();
    return tol.mode === "dp" && t.indexOf(".") >= 0 && t.toLowerCase().indexOf("e") < 0 &&
      decimals(t) >= 2 && decimals(t) < tol.places && Math.abs(v) < 1e15 && agreesAsPrinted(v, t);
  }
  function tooFew(q, text) {  // Grader.too_few_decimals
    var t = text.trim();
    if (tol.mode !== "dp" || t.indexOf(".") < 0 || t.toLowerCase().indexOf("e") >= 0 || parseNumber(t) === null) return null;
    var given = decimals(t);
    if (given >= tol.places || !q.rights.some(function (r) { return agreesAsPrinted(r, t); })) return null;
    return { m: "too-few-decimals", step: q.q, v: q.rights[0],
      t: t + " has " + given + " decimal" + (given !== 1 ? "s" : "") + " where " + tol.places + " are asked for: " + fixed(q.rights[0], tol.places) };
  }
  function grade(q, answer, text, known, untrusted) {  // Grader.grade
    var i = q.q, world = new World(merge(GENERIC_KNOWN, known)), expected = world.carried(i), ref = q.rights[0];
    var nKnown = Object.keys(known).length;
    if (isRight(i, answer)) return { verdict: "correct", expected: expected, from: [] };
    if (isFinite(expected) && within(answer, expected, q.near)) {
      var wrong = upstreamKnown(i, known).filter(function (k) { return !isRight(k, known[k]); });
      var bad = wrong.filter(function (k) { return k in untrusted; });
      if (bad.length) {
        var whys = [];
        bad.forEach(function (k) { if (whys.indexOf(untrusted[k]) < 0) whys.push(untrusted[k]); });
        return { verdict: "wrong", expected: expected, from: wrong, refused: bad, why: whys.join("; ") };
      }
      var own = implausible(i, expected, fmt(expected));
      if (own) return { verdict: "wrong", expected: expected, from: wrong, refused: wrong.length ? wrong : [i], why: own };
      return { verdict: wrong.length ? "carried" : "correct", expected: expected, from: wrong };
    }
    var few = tooFew(q, text);
    if (few) return { verdict: "wrong", expected: expected, from: [], diagnosis: few };
    var baseline = q.rights.slice();
    if (isFinite(expected)) baseline.push(expected);
    var allowed = steps(i, known);
    var rightKnown = {};
    Object.keys(known).forEach(function (k) { rightKnown[k] = Q[k][2]; });
    var groups = [function () { return candidates(q, world, allowed); }];
    if (nKnown) groups.push(function () { return candidates(q, new World(merge(GENERIC_KNOWN, rightKnown)), allowed); });
    groups.push(function () { return q.early.map(function (e) { return { m: e[0], step: i, t: e[1], v: e[2] }; }); });
    for (var n = 0; n < groups.length; n++) {
      var best = null;
      groups[n]().forEach(function (c) {
        if (!matches(answer, text, c.v) || baseline.some(function (b) { return accepts(c.v, b); })) return;
        if (best === null || Math.abs(c.v - answer) < Math.abs(best.v - answer)) best = c;
      });
      if (best) return { verdict: "wrong", expected: expected, from: [], diagnosis: best };
    }
    return { verdict: "wrong", expected: expected, from: [] };
  }
  function points(hints) { return Math.max(0, 1 - D.hint_cost * Math.min(hints, LEVELS)); }

  // The quiz's session (quiz.Quiz._grade): every answered box in order, the boxes before it as the student's
  // earlier values, and what each answer earns and whether it may earn follow-on credit.
  function session(entries) {
    var known = {}, untrusted = {}, out = [];
    entries.forEach(function (e) {
      var q = QS[e.k], v = parseNumber(e.text);
      if (v === null) { out.push({ n: q.n, verdict: "invalid" }); return; }
      var g = grade(q, v, e.text.trim(), known, untrusted);
      var credited = g.verdict === "correct" || g.verdict === "carried";
      var why = "";
      if (!(g.verdict === "correct" && !g.refused)) {
        var own = g.verdict === "wrong" ? implausible(q.q, v, e.text.trim()) : "";
        why = own || g.why || trivialises(q.q, v, e.text.trim(), known);
      }
      known[q.q] = v;
      if (why) untrusted[q.q] = why; else delete untrusted[q.q];
      g.n = q.n;
      g.points = credited ? points(e.hints || 0) : 0;
      g.own = g.verdict === "wrong" ? implausible(q.q, v, e.text.trim()) : "";
      out.push(g);
    });
    return out;
  }
  root.btGrade = function (answers) {  // [[question number, text], ...] in order -> verdicts, as the quiz's
    var entries = answers.map(function (a) { return { k: a[0] - 1, text: String(a[1]), hints: a[2] || 0 }; });
    return session(entries).map(function (g) {
      return { n: g.n, verdict: g.verdict, m: g.diagnosis ? g.diagnosis.m : "", points: g.points || 0,
        refused: !!(g.refused && g.refused.length) };
    });
  };

  var boxes = QS.map(function (question) {
    return {
      question: question,
      input: root.querySelector('input[data-q="' + question.n + '"]'),
      out: root.querySelector('output[data-q="' + question.n + '"]'),
      hintOut: root.querySelector('.bt-hint[data-q="' + question.n + '"]'),
      details: root.querySelector('details[data-q="' + question.n + '"]'),
      tries: [], hints: 0
    };
  });
  var score = root.querySelector(".bt-score");

  function hintText(b) {
    var q = b.question, level = Math.min(b.hints, LEVELS);
    var head = "Hint " + level + " of " + LEVELS;
    if (level === 1) return head + " (the formula): " + q.hint;
    if (level === 2) {
      var known = {};
      boxes.forEach(function (o) { if (o.question.n < q.n && o.value !== undefined) known[o.question.q] = o.value; });
      var world = new World(merge(GENERIC_KNOWN, known));
      var used = Q[q.q][1].map(function (a) {
        var lab = byQ[a] !== undefined ? QS[byQ[a]].label : null;
        return lab ? lab + " = " + fmt(world.value(a)) : null;
      }).filter(function (x) { return x; });
      return head + " (with your values): " + q.hint + (used.length ? "; " + used.join(", ") : "");
    }
    return head + " (the worked line, below).";
  }
  function regrade() {  // every box, in order, with the boxes before it as the student's earlier answers
    var entries = [], texts = {}, labels = {}, counts = { correct: 0, carried: 0, wrong: 0 }, earned = 0, hinted = 0;
    boxes.forEach(function (b, k) {
      var text = b.input.value.trim();
      b.value = undefined;
      labels[b.question.q] = b.question.label;
      if (text && parseNumber(text) !== null) { entries.push({ k: k, text: text, hints: b.hints, box: b }); b.value = parseNumber(text); }
      else if (text) entries.push({ k: k, text: text, hints: b.hints, box: b });
      else { b.out.textContent = ""; b.out.setAttribute("data-verdict", ""); b.out.removeAttribute("data-misconception"); }
    });
    var graded = session(entries);
    graded.forEach(function (g, n) {
      var b = entries[n].box, q = b.question, text = entries[n].text, out = b.out, msg;
      out.removeAttribute("data-misconception");
      texts[q.q] = text;
      if (g.verdict === "invalid") {
        var shown = text.length <= 20 ? text : text.slice(0, 17) + "...";
        out.textContent = "'" + shown + "' is not a number: type a number such as " + FORMS + ".";
        out.setAttribute("data-verdict", "invalid");
        return;
      }
      var tries = b.tries.length, final = g.verdict !== "wrong" || tries >= D.tries;
      var paid = b.hints && D.hint_cost ? " Earns " + +g.points.toFixed(2) + " of its point (hints taken)." : "";
      if (g.verdict === "correct") msg = "Right: " + q.label + " = " + q.shown + "." + paid;
      else if (g.verdict === "carried") {
        msg = "Credited: " + text + " follows correctly from your earlier answer" + (g.from.length > 1 ? "s " : " ") +
          g.from.map(function (k) { return labels[k] + " = " + texts[k]; }).join(", ") + "." + paid +
          " (From the right values, " + q.label + " = " + q.shown + ".)";
      } else {
        msg = "Not right" + (final ? "" : " yet") + ": you gave " + text + ".";
        if (g.refused && g.refused.length) msg += " No follow-on credit: " + g.why + ".";
        else if (g.diagnosis) {
          msg += " It looks like " + D.misconceptions[g.diagnosis.m] + ": " + g.diagnosis.t + ".";
          out.setAttribute("data-misconception", g.diagnosis.m);
        }
        if (g.own) msg += " Impossible value: " + g.own + ".";
        if (!final) {
          var left = D.tries - tries;
          msg += " Try again (" + left + " more " + (left === 1 ? "try" : "tries") + "), or ask for a hint.";
        } else {
          msg += " Right value: " + q.label + " = " + q.shown + ".";
          if (isFinite(g.expected) && !accepts(g.expected, q.rights[0]) && g.from !== undefined && Object.keys(texts).length > 1)
            msg += " From your own earlier answers it would be " + fmt(g.expected) + ".";
        }
      }
      if (g.verdict !== "wrong") counts[g.verdict] += 1; else counts.wrong += 1;
      earned += g.points;
      if (b.hints) hinted += 1;
      out.textContent = msg;
      out.setAttribute("data-verdict", g.verdict);
      if (final) b.input.setAttribute("data-final", "1");
    });
    score.textContent = "Credited " + (counts.correct + counts.carried) + " of " + boxes.length +
      (counts.carried ? " (" + counts.carried + " from an earlier mistake)" : "") +
      (counts.wrong ? "; " + counts.wrong + " not right" : "") + "." +
      (hinted && D.hint_cost ? " Points: " + +earned.toFixed(2) + " of " + boxes.length + " (each hint costs " +
        +D.hint_cost.toFixed(2) + " of its question's point)." : "");
  }
  function check(b) {
    var text = b.input.value.trim();
    if (text && (b.tries.length === 0 || b.tries[b.tries.length - 1] !== text)) b.tries.push(text);
    regrade();
  }
  boxes.forEach(function (b, k) {
    b.input.addEventListener("change", function () { check(b); });
    b.input.addEventListener("keydown", function (ev) {
      if (ev.key !== "Enter") return;
      ev.preventDefault();
      check(b);
      if (k + 1 < boxes.length) boxes[k + 1].input.focus();
    });
    var button = root.querySelector('button.bt-hint-button[data-q="' + b.question.n + '"]');
    if (button) button.addEventListener("click", function () {
      b.hints = Math.min(b.hints + 1, LEVELS);
      if (b.hints >= LEVELS && b.details) b.details.open = true;
      if (b.hintOut) b.hintOut.textContent = hintText(b);
      regrade();
    });
    if (b.details) b.details.addEventListener("toggle", function () {
      if (b.details.open && b.hints < LEVELS) { b.hints = LEVELS; if (b.hintOut) b.hintOut.textContent = hintText(b); regrade(); }
    });
  });
  root.classList.add("bt-live");
  regrade();
});
