// The document's decimal writing, shared by the scripted pages (the self-check's grader and the editable
// walk-through): each page's script starts with this text, inside its own function scope.
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
function paper(x) {  // rounding._decimal: a float's shortest decimal, cut to the 15 figures float64 holds
  var s = Math.abs(x).toString();
  var sig = s.split("e")[0].replace(".", "").replace(/^0+/, "");
  return sig.length > 15 ? (x < 0 ? -1 : 1) * Number(Math.abs(x).toPrecision(15)) : x;
}
