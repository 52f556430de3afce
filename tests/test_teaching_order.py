"""Documents in teaching order, every shown line exact on a calculator (issue 27).

Each document is rendered through the command line while the view model its template reads (the JSON of its
shown strings) is captured: every shown line carries its quantity's key in the document ("ref"). Then

- every substituted line, recomputed from the numbers the document shows for its arguments and rounded to the
  decimals of its shown result, gives that result (default exact mode at 9 and 4 digits, and as-printed);
- every quantity has one printed form in a document;
- no quantity is used in a line before the line that shows it: each line's label carries a marker, the
  rendered text is read in order, and every line's arguments (the step records' dependencies) that have a
  line of their own are shown before it, in every format and with the views.

The full sweep over every built-in example is ``slow``; a fixed sample runs by default.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
import sympy

from tutor.cli import main, view_refusal
from tutor.engine import precision
from tutor.engine.walks import step_walk
from tutor.render import notation, templates
from tutor.spec import graph as graphspec
from tutor.spec import load
from tutor.spec.resources import example_names

NETWORKS = [n for n in example_names("all") if not graphspec.is_graph(n)]
SAMPLE = ["mazur", "batchnorm-sigmoid", "optimizer-adam", "scaling-standardize"]
SETTINGS = {"spec": [], "9": ["--digits", "9"], "4": ["--digits", "4"], "as-printed": ["--rounding", "as-printed"]}

_SUPER = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")


def _lines(node, out: list) -> list:
    """Every shown line of a view model, in the order the model holds them."""
    if isinstance(node, dict):
        if "ref" in node and "stages" in node:
            out.append(node)
        for v in node.values():
            _lines(v, out)
    elif isinstance(node, (list, tuple)):
        for v in node:
            _lines(v, out)
    return out


def _captured(monkeypatch, tmp_path, argv: list[str]) -> tuple[list[dict], str]:
    """Run ``backprop-tutor`` with ``argv`` writing to a file; return the view models' lines and the output."""
    seen: list = []
    real = templates.render_template

    def capture(template, context, **kw):
        seen.append(context)
        return real(template, context, **kw)

    for module in ("walkthrough", "training", "graph", "maps"):
        monkeypatch.setattr(f"tutor.render.{module}.render_template", capture)
    out = tmp_path / "out"
    assert main([*argv, "-o", str(out)]) == 0
    return _lines(seen, []), out.read_text(encoding="utf-8")


def _number(text: str):
    """A shown number as a reader types it, exactly: 0.5, -0.0852, 6.751·10⁻⁶, 6.751 \\cdot 10^{-6}."""
    text = text.strip().strip("()")
    m = re.fullmatch(r"(-?[0-9.]+)(?:·10([⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+)| \\cdot 10\^\{(-?[0-9]+)\})?", text)
    assert m, f"not a shown number: {text!r}"
    power = m.group(2).translate(_SUPER) if m.group(2) else m.group(3)
    return Decimal(m.group(1)).scaleb(int(power or 0))


def _decimals(text: str) -> int:
    """How many decimal places a shown number states (6.751·10⁻⁶ states 9)."""
    text = text.strip().strip("()")
    mantissa = re.match(r"-?[0-9.]+", text).group(0)
    places = len(mantissa.split(".")[1]) if "." in mantissa else 0
    power = re.search(r"10(?:([⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+)|\^\{(-?[0-9]+)\})", text)
    if power:
        places -= int((power.group(1) or "").translate(_SUPER) or power.group(2))
    return places


def _network(name: str, setting: str):
    net = load(name)
    return net.with_conventions(rounding="as-printed") if setting == "as-printed" else net


def _one_form(lines: list[dict]) -> dict[str, str]:
    forms: dict[str, set] = {}
    for line in lines:
        forms.setdefault(line["ref"], set()).add(line["value"])
    several = {k: sorted(v) for k, v in forms.items() if len(v) > 1}
    assert not several, f"printed in more than one form: {dict(list(several.items())[:5])}"
    return {k: next(iter(v)) for k, v in forms.items()}


def _misfits(name: str, setting: str, lines: list[dict]) -> list[str]:
    """The substituted lines whose ``=`` a calculator refutes: f of the shown arguments, rounded to the shown
    result's decimals, is not the shown result."""
    net = _network(name, setting)
    digits = int(setting) if setting.isdigit() else net.conventions.digits
    return _refuted(step_walk(net).quantities, digits, lines)


def _refuted(Q, digits: int, lines: list[dict]) -> list[str]:
    shown = _one_form(lines)
    bad = []
    for line in lines:
        q = Q.get(line["ref"])
        if q is None or q.form is None or not q.args or not line["substituted"] or line["rounded"]:
            continue  # a line marked ≈ claims no exact last digit (test_a_line_no_figures_make_exact_is_marked)
        args = {}
        free = q.form.expr.free_symbols
        for a, p in zip(q.args, q.form.placeholders):
            if p not in free:
                continue
            if a in shown:  # an argument with a line of its own: the line shows the number that line shows
                assert shown[a] in line["substituted"], (line["ref"], a, shown[a], line["substituted"])
                args[p] = sympy.Rational(str(_number(shown[a])))
            else:  # a given value (a weight, an input): shown as the spec gives it
                args[p] = sympy.Rational(repr(Q[a].value))
        # as on a calculator: the shown numbers exactly, 40 figures
        recomputed = Decimal(str(sympy.N(q.form.expr.xreplace(args), 40)))
        places = max(_decimals(line["value"]), digits if "10" not in line["value"] else 0)
        quantum = Decimal(1).scaleb(-places)
        if recomputed.quantize(quantum, ROUND_HALF_UP) != _number(line["value"]).quantize(quantum, ROUND_HALF_UP):
            bad.append(f"{line['ref']}: {line['substituted']} = {line['value']} (recomputed {recomputed:.15g})")
    return bad


def _check_lines(monkeypatch, tmp_path, name: str, setting: str) -> None:
    lines, _ = _captured(monkeypatch, tmp_path, ["explain", name, "-f", "text", *SETTINGS[setting]])
    assert lines
    bad = _misfits(name, setting, lines)
    assert not bad, f"{len(bad)} lines do not reproduce:\n" + "\n".join(bad[:10])


@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("name", SAMPLE)
def test_every_line_reproduces_from_its_shown_numbers(monkeypatch, tmp_path, name, setting):
    _check_lines(monkeypatch, tmp_path, name, setting)


@pytest.mark.slow
@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("name", [n for n in NETWORKS if n not in SAMPLE])
def test_every_line_reproduces_every_example(monkeypatch, tmp_path, name, setting):
    _check_lines(monkeypatch, tmp_path, name, setting)


GRAPHS = [n for n in example_names("all") if graphspec.is_graph(n)]


@pytest.mark.parametrize("digits", [None, 4, 9])
@pytest.mark.parametrize("name", GRAPHS)
def test_every_line_of_a_graph_reproduces_from_its_shown_numbers(monkeypatch, tmp_path, name, digits):
    """The graph documents too (graph-sigmoid-gates wrote f = 1/1.3679 = 0.7311, where 1/1.3679 = 0.73105):
    one printed form each, every substituted line exact from the numbers it shows."""
    from tutor.engine.graph import explain_graph

    more = ["--digits", str(digits)] if digits else []
    lines, _ = _captured(monkeypatch, tmp_path, ["explain", name, "-f", "text", *more])
    g = graphspec.load(name)
    assert len(lines) > 20
    bad = _refuted(explain_graph(g).quantities, digits or g.digits, lines)
    assert not bad, f"{len(bad)} lines do not reproduce:\n" + "\n".join(bad[:10])


def test_one_printed_form_per_value_in_tex(monkeypatch, tmp_path):
    """The LaTeX model too (numbers written with \\cdot 10^{...}): one form each, batch and steps alike."""
    for name in ("batchnorm-sigmoid", "optimizer-adam"):
        lines, _ = _captured(monkeypatch, tmp_path, ["explain", name, "-f", "md"])
        _one_form(lines)


def test_a_value_within_float_noise_of_its_short_form_is_shown_short():
    assert notation._fmt_number(0.39250000000000007, 9) == "0.3925"
    assert notation._fmt_number(0.3925000001, 9) == "0.392500000"
    assert precision.shown_value(0.39250000000000007, 9) == 0.3925


def test_a_line_near_a_rounding_tie_gets_the_figures_it_needs():
    """-0.47125·0.1809 = -0.0852491: with every number at 4 decimals the line would read
    (-0.4713)·0.1809 = -0.0852, which a calculator makes -0.0853; the line gets the decimals that make it exact."""
    from tutor.engine.steps import Form, Quantity

    form = Form(None, lambda a, b: a * b, ())
    Q = {
        "a": Quantity("a", "net", -0.47125),
        "b": Quantity("b", "given", 0.1809),
        "r": Quantity("r", "net", -0.47125 * 0.1809, form, ("a", "b")),
    }
    dec, failing = precision.settle(Q, 4, 3)
    assert not failing
    shown = {k: precision.shown_value(q.value, dec[k]) for k, q in Q.items()}
    assert precision.reproduces(shown["a"] * shown["b"], Q["r"].value, dec["r"])
    # at 4 decimals each, a calculator refutes the line
    assert not precision.reproduces(-0.4713 * 0.1809, Q["r"].value, 4)


def test_a_line_no_figures_make_exact_is_marked_rounded(monkeypatch, tmp_path):
    """A 4-8-8-4 network at 9 digits: a few lines (sums of eight products, a tanh near saturation) would need
    operands past float64's 15 figures or more than precision.EXTRA decimals beyond their own. Those lines are
    written with ≈ and say why; every other line reproduces; no shown value has more than 15 figures."""
    spec = tmp_path / "n4884.toml"
    spec.write_text(_n4884(), encoding="utf-8")
    lines, text = _captured(monkeypatch, tmp_path, ["explain", str(spec), "-f", "text"])
    rounded = [line for line in lines if line["rounded"]]
    assert rounded and len(rounded) < 10
    for line in rounded:
        assert " ≈ " + line["value"] in line["stages"][-1]
    assert text.count("(≈: recomputed from the shown numbers, the last digit may differ by one") == len(rounded)
    net = load(str(spec))
    Q = step_walk(net).quantities
    shown = _one_form(lines)
    unmarked = [dict(line, rounded=False) if line["rounded"] else line for line in lines]
    bad = {b.split(":")[0] for b in _misfits(str(spec), "spec", unmarked)}
    # every line a calculator refutes is marked (a marked line may, at float64's last figure, still agree)
    assert bad and bad <= {line["ref"] for line in rounded}
    assert all(len(v.lstrip("-").replace(".", "").lstrip("0")) <= 15 for k, v in shown.items() if k in Q)


def test_a_brief_document_gives_an_argument_at_most_brief_extra_decimals(monkeypatch, tmp_path):
    """--brief tabulates every value of a large network: an argument gets at most precision.BRIEF_EXTRA
    decimals beyond its own, and a result near a rounding tie one more (the limit network's tables showed
    values at 12 to 15 decimals); the lines that would need more are written with ≈, and every other line
    still reproduces."""
    spec = tmp_path / "n4884.toml"
    spec.write_text(_n4884(), encoding="utf-8")
    Q = step_walk(load(str(spec))).quantities
    figures = notation.significant_figures(9)

    def beyond(lines: list[dict]) -> int:
        """The most decimals a shown value has beyond its own (base) decimals."""
        shown = _one_form(lines)
        return max(_decimals(v) - precision.base_decimals(Q[k].value, 9, figures) for k, v in shown.items() if k in Q)

    full, _ = _captured(monkeypatch, tmp_path, ["explain", str(spec), "-f", "text"])
    brief, text = _captured(monkeypatch, tmp_path, ["explain", str(spec), "-f", "text", "--brief"])
    assert precision.BRIEF_EXTRA + 1 < beyond(full) <= precision.EXTRA + 1
    assert 0 < beyond(brief) <= precision.BRIEF_EXTRA + 1
    rounded = [line for line in brief if line["rounded"]]
    assert rounded and text.count("(≈: recomputed from the shown numbers") == len(rounded)
    assert not _misfits(str(spec), "spec", brief)


def _settled_by_definition(Q, digits: int, figures: int, extra: int) -> tuple[dict, set]:
    """``precision.settle`` as its docstring defines it, without its bookkeeping: every line is checked on every
    pass, through its evaluator with all of its arguments, and the argument with the largest share is found by
    scanning them all."""
    P = precision
    values = {k: q.value for k, q in Q.items()}
    dec = {k: P.base_decimals(v, digits, figures) for k, v in values.items()}
    cur = {k: P.shown_value(v, dec[k]) for k, v in values.items()}
    lines = [k for k in reversed(list(Q)) if Q[k].form is not None and Q[k].args]
    aliases = [(k, a) for k in lines for a in [P._alias(Q[k])] if a and values[k] == values[a]]

    def more(key):
        dec[key] += 1
        cur[key] = P.shown_value(values[key], dec[key])

    def ok(key):
        q = Q[key]
        return P.reproduces(P._call(P._evaluator(q.form), [cur[a] for a in q.args]), values[key], dec[key], cur[key])

    for _ in range(P.PASSES):
        before = dict(dec)
        for k, a in aliases:
            while dec[k] != dec[a]:
                more(k if dec[k] < dec[a] else a)
        for key in lines:
            if ok(key):
                continue
            q, unit = Q[key], 10.0 ** -dec[key]
            caps = [
                min(P.MAX_FIGURES - 1 - P.magnitude(values[a]), P.base_decimals(values[a], digits, figures) + extra)
                for a in q.args
            ]
            if abs(abs(values[key] - cur[key]) - 0.5 * unit) < P.TIE_MARGIN * unit:
                if dec[key] < P.MAX_FIGURES - 1 - P.magnitude(values[key]):
                    more(key)
                    if ok(key):
                        continue
            args = [values[a] for a in q.args]
            slopes = [P._slope(P._evaluator(q.form), args, i) for i in range(len(args))]
            while True:
                shares = [
                    slopes[i] * P._error(args[i], cur[a]) if math.isfinite(slopes[i]) and dec[a] < caps[i] else 0.0
                    for i, a in enumerate(q.args)
                ]
                worst = max(range(len(shares)), key=shares.__getitem__)
                if shares[worst] == 0.0:
                    break
                more(q.args[worst])
                if ok(key):
                    break
        if dec == before:
            break
    return dec, {k for k in lines if not ok(k)}


@pytest.mark.parametrize("digits,extra", [(4, precision.EXTRA), (9, precision.EXTRA), (4, precision.BRIEF_EXTRA)])
def test_settling_checks_again_only_the_lines_a_decimal_moved(tmp_path, digits, extra):
    """``settle`` checks a line again only when a number it reads (or its own result's decimals) moved since its
    check passed, reads a line that only names an argument (dnet/dw = out) without the other 24, and finds the
    largest share among the moved ones: its decimals and rounded lines are exactly those of the definition,
    which checks every line on every pass, on a network with 12-input neurons (25-argument lines)."""
    spec = tmp_path / "n12.toml"
    spec.write_text(_random_spec([12, 12, 6], seed=3), encoding="utf-8")
    Q = step_walk(load(str(spec))).quantities
    figures = notation.significant_figures(digits)
    dec, failing = precision.settle(Q, digits, figures, extra)
    assert (dec, failing) == _settled_by_definition(Q, digits, figures, extra)
    # the case is not trivial: many lines got decimals beyond their own
    moved = sum(dec[k] > precision.base_decimals(q.value, digits, figures) for k, q in Q.items())
    assert moved > 50


def _random_spec(sizes: list[int], seed: int) -> str:
    """A seeded network of the given sizes (tanh hidden layers, a sigmoid output), values with two decimals."""
    import random

    rng = random.Random(seed)
    out = f"[inputs]\nvalues = {[round(rng.uniform(-1, 1), 2) for _ in range(sizes[0])]}\n"
    for k in range(1, len(sizes)):
        rows = [[round(rng.uniform(-1, 1), 2) for _ in range(sizes[k - 1])] for _ in range(sizes[k])]
        act = "sigmoid" if k == len(sizes) - 1 else "tanh"
        out += f'\n[[layers]]\nsize = {sizes[k]}\nactivation = "{act}"\nweights = {rows}\n'
        out += f"biases = {[round(rng.uniform(-1, 1), 2) for _ in range(sizes[k])]}\n"
    targets = [round(rng.uniform(0, 1), 2) for _ in range(sizes[-1])]
    return out + f'\n[loss]\nname = "half_sse"\ntargets = {targets}\n\n[training]\nlearning_rate = 0.5\n'


def _n4884() -> str:
    """A seeded 4-8-8-4 network (tanh, tanh, sigmoid), its values with two decimals."""
    return _random_spec([4, 8, 8, 4], seed=1)


# -- teaching order --------------------------------------------------------------------------------------------

FORMATS = ["text", "md", "tex", "html"]
VIEWS = ["matrix", "paths", "magnitudes"]


def _order(monkeypatch, tmp_path, argv: list[str]) -> tuple[list[str], list[str]]:
    """The refs of the shown lines in the order the rendered document shows them (each line's label carries a
    marker), and the refs in the view model."""
    refs: list[str] = []
    index: dict[str, int] = {}

    def line_label(self, key, mode="tex"):
        ref = self.refs.get(key, key)
        if ref not in index:
            index[ref] = len(refs)
            refs.append(ref)
        tag = f"QQ{index[ref]}QQ"
        label = self.label(key, mode)
        return f"{tag} {label}" if mode == "text" else rf"\text{{{tag}}} {label}"

    monkeypatch.setattr(notation.FormulaWriter, "line_label", line_label)
    lines, text = _captured(monkeypatch, tmp_path, argv)
    order = [refs[int(i)] for i in re.findall(r"QQ(\d+)QQ", text)]
    return order, [line["ref"] for line in lines]


def _used_before_shown(name: str, order: list[str]) -> list[str]:
    if graphspec.is_graph(name):
        from tutor.engine.graph import explain_graph

        Q = explain_graph(graphspec.load(name)).quantities
    else:
        Q = step_walk(load(name)).quantities
    first: dict[str, int] = {}
    for i, ref in enumerate(order):
        first.setdefault(ref, i)
    bad = []
    for ref, at in first.items():
        q = Q.get(ref)
        for a in q.args if q is not None else ():
            if a in first and first[a] > at:
                bad.append(f"{ref} (at {at}) uses {a}, shown at {first[a]}")
    return bad


def _check_order(monkeypatch, tmp_path, name: str, fmt: str, views: list[str]) -> None:
    argv = ["explain", name, "-f", fmt] + [f"--view={v}" for v in views]
    order, model = _order(monkeypatch, tmp_path, argv)
    assert order and set(order) <= set(model)  # the markers are the lines' own
    bad = _used_before_shown(name, order)
    assert not bad, f"{len(bad)} quantities used before their line:\n" + "\n".join(bad[:10])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["mazur", "batchnorm-sigmoid"])
def test_no_quantity_is_used_before_its_line(monkeypatch, tmp_path, name, fmt):
    _check_order(monkeypatch, tmp_path, name, fmt, [])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", GRAPHS)
def test_no_quantity_of_a_graph_is_used_before_its_line(monkeypatch, tmp_path, name, fmt):
    _check_order(monkeypatch, tmp_path, name, fmt, [])


def test_no_quantity_is_used_before_its_line_with_the_views(monkeypatch, tmp_path):
    _check_order(monkeypatch, tmp_path, "appendix-b", "text", VIEWS)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", NETWORKS)
def test_no_quantity_is_used_before_its_line_every_example(monkeypatch, tmp_path, name, fmt):
    net = load(name)
    plain = net.training.plain and len(net.examples) == 1
    views = [v for v in VIEWS if not view_refusal(net, v)]  # as the CLI decides (none for a walk by layers)
    _check_order(monkeypatch, tmp_path, name, fmt, views if plain else [])


def test_the_batch_statistics_come_between_the_forward_passes_and_the_backward(monkeypatch, tmp_path):
    """batchnorm-sigmoid: every example's net inputs, mu and var, every example's forward and backward to
    dE/dxhat, dE/dvar and dE/dmu, then dE/dnet: the order a person computes in."""
    order, _ = _order(monkeypatch, tmp_path, ["explain", "batchnorm-sigmoid", "-f", "text"])
    at = {ref: order.index(ref) for ref in set(order)}
    assert at["net_h1[e3]"] < at["mu_h1"] < at["xhat_h1[e1]"]
    assert at["dE_total/dxhat_h1[e3]"] < at["dE_total/dvar_h1"] < at["dE_total/dnet_h1[e1]"]


# -- one notation a document, and options a document cannot honour ---------------------------------------------


def test_the_loss_header_and_the_lines_use_one_notation(monkeypatch, tmp_path):
    """ln in the header and in the lines; the header's t_k and o_k named as the lines name them."""
    _, text = _captured(monkeypatch, tmp_path, ["explain", "softmax-scores", "-f", "text"])
    assert "E = −Σₖ tₖ ln oₖ, tₖ the targets y_c1, y_c2, y_c3 and oₖ the outputs p1, p2, p3." in text
    assert "E_c1 = -y_c1·ln(p1) = -1·ln(0.659001139) = 0.417030016" in text and "log" not in text.split("Loss:")[1]
    html = tmp_path / "s.html"
    assert main(["explain", "softmax-scores", "-f", "html", "-o", str(html)]) == 0
    # a thin space after a function name: "ln oₖ", never "lnoₖ"
    assert '<mi>ln</mi><mspace width="0.1667em"></mspace><msub><mi>o</mi>' in html.read_text(encoding="utf-8")


def test_a_graph_writes_total_gradients_apart_from_local_derivatives_and_defines_step(monkeypatch, tmp_path):
    out = tmp_path / "g.txt"
    assert main(["explain", "graph-max-twice", "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "local   ∂f/∂x = ∂/∂x [ m·x ] = m = 6" in text  # the multiply gate's local derivative ...
    assert "dx = " in text and "∂f/∂x = 12" not in text  # ... is never written as the total gradient
    assert "step(u) is 1 for u > 0, 0 for u < 0 and 1/2 at a tie" in text
    md = tmp_path / "s.md"
    assert main(["explain", "graph-sigmoid-gates", "-f", "md", "-o", str(md)]) == 0
    assert r"\exp\left(e\right)" in md.read_text(encoding="utf-8")  # a node named e beside Euler's e


@pytest.mark.parametrize("argv", [["explain", "minibatch", "-f", "pdf"], ["train", "minibatch", "--epochs", "2"]])
def test_brief_is_refused_for_a_training_document(argv, tmp_path, capsys):
    assert main([*argv, "--brief", "-o", str(tmp_path / "out.pdf")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "backprop-tutor: error: --brief: shortens one example's plain step; a training document walks every line"
        " of its batch: leave out --brief"
    ]


def test_a_training_documents_final_table_sets_names_and_numbers_as_math(tmp_path):
    """The LaTeX table after the step: subscripted names and minus signs (was plain text: W1, -0.102403)."""
    out = tmp_path / "m.tex"
    assert main(["explain", "minibatch", "-o", str(out)]) == 0
    tex = out.read_text(encoding="utf-8").split(r"\section{After the step}")[1]
    assert "$b_{2}$ & $-0.102403$ \\\\" in tex and "$W_{1}$ & $0.500290$ \\\\" in tex
    assert r"1 & $\mathrm{out}_{\mathrm{out}} = 0.858754$ & $0.343417$ \\" in tex


@pytest.mark.parametrize("fmt", ["md", "tex", "html"])
def test_a_graphs_max_gate_derivative_is_defined_and_total_gradients_are_upright_d(fmt, tmp_path):
    """graph-max-twice in Markdown, LaTeX and HTML: step(u) is defined once before its first use (no θ or
    Heaviside left undefined); the total gradient df/dx = 12 is written with an upright d, the multiply gate's
    local derivative ∂f/∂x = m = 6 with ∂, never one symbol for both."""
    out = tmp_path / f"g.{fmt}"
    assert main(["explain", "graph-max-twice", "-f", fmt, "-o", str(out)]) == 0
    doc = out.read_text(encoding="utf-8")
    assert doc.count(" is 1 for ") == 1 and not re.search(r"theta|θ|Heaviside", doc)
    step = "<mo>step</mo>" if fmt == "html" else r"\operatorname{step}"
    first = doc.index(step)  # the first step is the definition's own
    assert 0 < doc.index(" is 1 for ") - first < 300
    assert doc.count(step) == 5  # the definition and the max gate's two lines, each symbolic and substituted
    if fmt != "html":
        total = r"\frac{\mathrm{d} f}{\mathrm{d} x} &= \left.\frac{\mathrm{d} f}{\mathrm{d} x}\right|_{\text{via }f}"
        assert total in doc and r"\frac{\partial f}{\partial x} &= 12" not in doc
        assert doc.index(r"\frac{\partial f}{\partial x}") < doc.index(total)


@pytest.mark.parametrize("name", GRAPHS)
def test_a_graphs_picture_prints_each_value_as_its_lines_do(monkeypatch, tmp_path, name):
    """graph-sigmoid-gates drew g = 0.3679 in its picture beside the line g = exp(-1) = 0.36788: where the
    picture's digits are the document's, a node's value and gradient have the lines' printed form."""
    from dataclasses import replace

    from tutor.engine.graph import explain_graph
    from tutor.render import graph as RG
    from tutor.render.options import DEFAULT

    lines, _ = _captured(monkeypatch, tmp_path, ["explain", name, "-f", "text"])
    shown = _one_form(lines)
    walk = explain_graph(graphspec.load(name))
    digits = min(walk.graph.digits, RG.PICTURE_DIGITS)
    nodes = RG.picture_nodes(walk, RG.writer(walk, "text", replace(DEFAULT, digits=digits)), "text")
    grads = {b.node: b.gradient for b in walk.backward}
    checked = 0
    for n in nodes:
        texts = [t for t, _ in n["lines"]]
        if walk.graph.digits <= RG.PICTURE_DIGITS and n["key"] in shown and n["kind"] != "constant":
            assert texts[1] == shown[n["key"]], (n["key"], texts, shown[n["key"]])
            checked += 1
        if walk.graph.digits <= RG.PICTURE_DIGITS and grads.get(n["key"]) in shown:
            assert texts[2] == "∇ " + shown[grads[n["key"]]], (n["key"], texts)
            checked += 1
    assert checked > 5 or walk.graph.digits > RG.PICTURE_DIGITS


def test_slopes_in_one_numpy_call_are_the_slopes_one_by_one():
    """``precision._slopes`` evaluates an elementwise form (sums and products: a net input, a sum over downstream
    paths) once on NumPy lanes: every slope is the very float ``_slope`` gives, for values large, small and 0."""
    import random

    from tutor.engine import sym_forms

    rng = random.Random(5)
    for fn, n in ((sym_forms._dot, 24), (sym_forms._dot_bias, 25), (sym_forms._sum, 9), (sym_forms._prod, 8)):
        assert fn.elementwise
        for _ in range(20):
            args = [rng.choice([0.0, 1e-9, -3e7]) if rng.random() < 0.2 else rng.uniform(-2, 2) for _ in range(n)]
            assert precision._slopes(fn, args) == [precision._slope(fn, args, i) for i in range(n)]
