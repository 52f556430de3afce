// The formula self-check's reader and grader (fixed text; the page's script starts with BT_ROOT, the root's
// generated id, and BT_OPS, the grammar's operations printed by SymPy's JavaScript printer from the graph
// registry's forms). A typed formula is read by the grammar of tutor/spec/graph.py's parser as the quiz reads
// it (tutor/teach/formulas.py: numbers, names, + - * / unary -, ** with a constant exponent, the registry's
// functions; never eval), computed at the points of the page's data by BT_OPS only, and decided as
// FormulaGrading.grade decides: right where it agrees with the derived form's values, else the negation, else
// the first classic slip (in the core's order) whose values it has. root.btFormula(n, text) grades one
// formula of question n (for checking the page against the Python grader).
"use strict";
var roots = document.querySelectorAll('[id="' + BT_ROOT + '"]');
Array.prototype.forEach.call(roots, function (root) {
  if (root.getAttribute("data-ready")) return;
  root.setAttribute("data-ready", "1");
  var D = JSON.parse(root.querySelector("script.bt-data").textContent);
  var L = D.limits, QS = D.questions, NAMES = {}, FUNCS = {};
  var MAX_DEPTH = 199;  // brackets open at once: Python's tokenizer takes fewer than 200
  D.names.forEach(function (n, i) { NAMES[n] = i; });
  D.functions.forEach(function (f) { FUNCS[f] = true; });
  var ARITY = { max: 0, min: 0 };
  function num(x) { return x === null ? NaN : x; }
  var WORLDS = D.worlds.map(function (w) { return w.map(num); });

  function Refusal(message) { this.message = message; }
  function refuse(message) { throw new Refusal(message); }
  function g(x) { return String(+x.toPrecision(6)); }  // Python's :g, enough for a message

  function tokens(text) {  // numbers, names, operators; anything else is refused where it stands
    var out = [], re = /\s*(?:(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|(\*\*|[-+*\/(),^])|('[^']*'|"[^"]*"))/y, m;
    var i = 0;
    text = text.replace(/\s+$/, "");
    while (i < text.length) {
      re.lastIndex = i;
      m = re.exec(text);
      if (!m) {
        var c = text.slice(i).replace(/^\s+/, "").charAt(0);
        var what = c === "." ? "an attribute" : c === "[" ? "indexing" : c === "=" || c === "<" || c === ">" ? "a comparison" : "'" + c + "'";
        refuse(what + " is not allowed; allowed: numbers, names, + - * /, unary -, ** with a constant exponent, " + D.functions.join(", "));
      }
      var col = i + m[0].length - (m[1] || m[2] || m[3] || m[4]).length + 1;
      if (m[1] !== undefined) out.push({ t: "num", v: Number(m[1]), c: col });
      else if (m[2] !== undefined) out.push({ t: "name", v: m[2], c: col });
      else if (m[4] !== undefined) out.push({ t: "str", v: m[4], c: col });  // refused where it is read
      else out.push({ t: m[3], c: col });
      i = re.lastIndex;
    }
    out.push({ t: "end", c: text.length + 1 });
    return out;
  }

  function read(text) {  // the formula as a tree: {n: number} | {i: name's index} | {op, a: [trees], p}
    var t = String(text).trim(), k = 0, depth = 0, count = 0;
    if (t.length > L.chars) refuse("a formula has at most " + L.chars + " characters, got " + t.length);
    if (!t) refuse("the expression is empty");
    var T = tokens(t);
    function peek() { return T[k].t; }
    function take(kind) {
      if (T[k].t !== kind) refuse("syntax error at column " + T[k].c + " of '" + t.slice(0, 80) + "'");
      return T[k++];
    }
    function isNum(x) { return x.n !== undefined; }
    function node(op, a, p) {
      a.forEach(function (x) { if (isNum(x)) count += 1; });  // a number an operation reads is a node too
      count += 1;
      if (count > L.nodes) refuse("the formula has more than " + L.nodes + " operations; write it shorter");
      return { op: op, a: a, p: p };
    }
    function fold(x) {
      if (!isFinite(x)) refuse("the number is not a finite real number");
      return { n: x };
    }
    function power(base, exponent) {
      if (!isNum(exponent)) refuse("the exponent of ** must be a constant number (for a variable one use exp(b * log(a)))");
      if (Math.abs(exponent.n) > L.exponent)
        refuse("an exponent lies from -" + L.exponent + " to " + L.exponent + ", got " + g(exponent.n));
      if (isNum(base)) return fold(Math.pow(base.n, exponent.n));
      return node("pow", [base], exponent.n);
    }
    function sum() {
      var x = product();
      while (peek() === "+" || peek() === "-") {
        var op = T[k++].t, y = product();
        x = isNum(x) && isNum(y) ? fold(op === "+" ? x.n + y.n : x.n - y.n) : node(op === "+" ? "add" : "sub", [x, y]);
      }
      return x;
    }
    function product() {
      var x = unary();
      while (peek() === "*" || peek() === "/") {
        var op = T[k++].t, y = unary();
        if (isNum(x) && isNum(y)) {
          if (op === "/" && y.n === 0) refuse("a division by zero or a power out of range");
          x = fold(op === "*" ? x.n * y.n : x.n / y.n);
        } else x = node(op === "*" ? "mul" : "div", [x, y]);
      }
      return x;
    }
    function unary() {
      var x;
      if (peek() === "-") { k++; var y = unary(); x = isNum(y) ? { n: -y.n } : node("neg", [y]); }
      else if (peek() === "+") { k++; x = unary(); }
      else x = pow();
      return x;
    }
    function pow() {
      var base = atom();
      if (peek() === "^") refuse("'^' is not a power here; write a ** 2");
      if (peek() !== "**") return base;
      k++;
      return power(base, unary());
    }
    function atom() {
      var tok = T[k];
      if (tok.t === "num") { k++; if (!isFinite(tok.v)) refuse("the number is not finite"); return { n: tok.v }; }
      if (tok.t === "(") {
        k++;
        if (++depth > MAX_DEPTH) refuse("the expression is nested too deeply");
        var x = sum();
        take(")");
        depth -= 1;
        return x;
      }
      if (tok.t === "str") refuse(tok.v.slice(0, 20) + " is not a number");
      if (tok.t !== "name") refuse("syntax error at column " + tok.c + " of '" + t.slice(0, 80) + "'");
      k++;
      var name = tok.v;
      if (peek() === "(") {
        if (!FUNCS[name]) refuse("unknown function '" + name + "'; allowed: " + D.functions.join(", "));
        k++;
        if (++depth > MAX_DEPTH) refuse("the expression is nested too deeply");
        var args = [];
        if (peek() !== ")") { args.push(sum()); while (peek() === ",") { k++; args.push(sum()); } }
        take(")");
        depth -= 1;
        var arity = ARITY[name] === 0 ? 0 : 1;
        if (arity === 0 && args.length < 2) refuse(name + "() takes two or more arguments, got " + args.length);
        if (arity && args.length !== 1) refuse(name + "() takes 1 argument, got " + args.length);
        if (args.every(isNum)) refuse(name + "() of numbers only; write its result as one number");
        return node(name, args);
      }
      if (Object.prototype.hasOwnProperty.call(NAMES, name)) return { i: NAMES[name] };
      if (FUNCS[name]) refuse("'" + name + "' is a function; call it, e.g. " + name + "(x)");
      refuse("undefined name '" + name + "'; use the names the quiz shows (e.g. out_o1, delta_o1, w5)");
    }
    var tree = sum();
    if (peek() !== "end") {
      if (peek() === "^") refuse("'^' is not a power here; write a ** 2");
      refuse("syntax error at column " + T[k].c + " of '" + t.slice(0, 80) + "'");
    }
    return tree;
  }

  function value(x, w) {  // the tree at one point, by the printed operations only
    if (x.n !== undefined) return x.n;
    if (x.i !== undefined) return w[x.i];
    var a = x.a.map(function (y) { return value(y, w); });
    if (x.op === "pow") return BT_OPS.pow(a[0], x.p);
    if (x.op === "max" || x.op === "min") return a.slice(1).reduce(function (s, y) { return BT_OPS[x.op](s, y); }, a[0]);
    return BT_OPS[x.op].apply(null, a);
  }
  function agree(a, b) {  // formulas.agree
    var used = 0;
    for (var k = 0; k < a.length; k++) {
      var x = num(a[k]), y = b[k];
      if (!isFinite(x)) continue;
      if (!isFinite(y) || Math.abs(x - y) > L.relative * Math.max(1, Math.abs(x))) return false;
      used += 1;
    }
    return used > 0;
  }
  function grade(q, text) {  // FormulaGrading.grade without SymPy's confirmation
    var tree;
    try { tree = read(text); } catch (e) {
      if (e instanceof Refusal) return { verdict: "invalid", error: "formula: " + e.message };
      if (e instanceof RangeError) return { verdict: "invalid", error: "formula: the expression is nested too deeply" };
      throw e;
    }
    var mine = WORLDS.map(function (w) { return value(tree, w); });
    if (agree(q.right, mine)) return { verdict: "correct" };
    if (agree(q.right.map(function (x) { return -num(x); }), mine)) return { verdict: "wrong", slip: "sign", detail: "every term negated" };
    for (var k = 0; k < q.slips.length; k++) {
      if (agree(q.slips[k][2], mine)) return { verdict: "wrong", slip: q.slips[k][0], detail: q.slips[k][1] };
    }
    return { verdict: "wrong" };
  }
  root.btFormula = function (n, text) { return grade(QS[n - 1], text); };

  var score = root.querySelector(".bt-score");
  var boxes = QS.map(function (q) {
    return {
      q: q,
      input: root.querySelector('input[data-q="' + q.n + '"]'),
      out: root.querySelector('output[data-q="' + q.n + '"]'),
      hint: root.querySelector('span.bt-hint[data-q="' + q.n + '"]'),
      tries: 0, hints: 0, verdict: "", last: ""
    };
  });
  function tally() {
    var right = boxes.filter(function (b) { return b.verdict === "correct"; }).length;
    var revise = boxes.filter(function (b) { return b.verdict === "wrong"; }).map(function (b) { return b.q.name; });
    score.textContent = "Score: " + right + " of " + boxes.length + " formulas right." +
      (revise.length ? " To revise: " + revise.join(", ") + "." : "");
  }
  function show(b, verdict, message) {
    b.out.textContent = message;
    b.out.setAttribute("data-verdict", verdict);
  }
  function check(b) {
    var text = b.input.value.trim();
    if (b.verdict || !text || text === b.last) return;
    var r = grade(b.q, text), q = b.q;
    b.out.removeAttribute("data-slip");
    if (r.verdict === "invalid") { show(b, "invalid", "Not read: " + r.error); return; }
    b.last = text;
    b.tries += 1;
    if (r.verdict === "correct") {
      b.verdict = "correct";
      show(b, "correct", "Right: " + q.name + " = " + q.reference);
    } else {
      var msg = "Not right.";
      if (r.slip) { msg += " Diagnosis: " + D.slips[r.slip] + " (" + r.detail + ")."; b.out.setAttribute("data-slip", r.slip); }
      if (b.tries >= D.tries) { b.verdict = "wrong"; msg += " The formula: " + q.name + " = " + q.reference; }
      else msg += " Try again.";
      show(b, "wrong", msg);
    }
    if (b.verdict) b.input.setAttribute("data-final", "1");
    tally();
  }
  boxes.forEach(function (b, k) {
    b.input.addEventListener("change", function () { check(b); });
    b.input.addEventListener("keydown", function (ev) {
      if (ev.key !== "Enter") return;
      ev.preventDefault();
      check(b);
      if (b.verdict && k + 1 < boxes.length) boxes[k + 1].input.focus();
    });
    var button = root.querySelector('button.bt-hint-button[data-q="' + b.q.n + '"]');
    if (button) button.addEventListener("click", function () {
      b.hints += 1;
      if (b.hints === 1) b.hint.textContent = "Hint: it is written with " + b.q.uses.join(", ") + ".";
      else {
        b.hint.textContent = "The formula: " + b.q.name + " = " + b.q.reference;
        if (!b.verdict) { b.verdict = "shown"; b.input.setAttribute("data-final", "1"); }
        tally();
      }
    });
  });
  root.classList.add("bt-live");
  tally();
});
