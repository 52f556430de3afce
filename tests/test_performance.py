"""The faster paths give the same bytes as the plain ones they replace: the linear line breaker, MathML from a
formula's shape, the graph's node index. No timing is asserted here (benchmarks/run.py measures)."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from functools import partial

import pytest

from tutor import render
from tutor.engine.symbolic import explain_step
from tutor.render import lines, templates
from tutor.render.lines import visible_length
from tutor.spec import graph as graphspec
from tutor.spec import load

# -- the line breaker: the per-character scan it replaced, kept here as the reference ---------------------------


def _reference_top_level_ops(tex: str) -> list[int]:
    depth, spots, i = 0, [], 0
    while i < len(tex):
        if tex.startswith((r"\biggl[", r"\biggr]"), i):
            i += 7
            continue
        c = tex[i]
        if c in "{([":
            depth += 1
        elif c in "})]":
            depth -= 1
        elif depth == 0 and tex.startswith((" + ", " - "), i):
            spots.append(i)
        i += 1
    return spots


def _reference_split_math(tex: str, limit: int) -> list[str]:
    if visible_length(tex) <= limit:
        return [tex]
    chunks, start, last = [], 0, 0
    for at in _reference_top_level_ops(tex):
        if visible_length(tex[start:at]) > limit and last > start:
            chunks.append(tex[start:last].strip())
            start = last
        last = at
    if visible_length(tex[start:]) > limit and last > start:
        chunks.append(tex[start:last].strip())
        start = last
    chunks.append(tex[start:].strip())
    return [c for c in chunks if c]


_PIECES = [
    "a", " + ", " - ", "{", "}", "(", ")", "[", "]", r"\biggl[", r"\biggr]", r"\left(", r"\right)", r"\alpha",
    r"\cdot", " ", "x_{1}", "^{2}", " > ", "<", r"\text{ab}", r"\mathrm{d}", "+ -", "  ", "0.25", r"\frac{1}{2}",
]  # fmt: skip


def test_the_line_breaker_breaks_where_the_character_scan_did():
    rng = random.Random(30)  # derandomized: the same 3,000 strings on every run
    for _ in range(3000):
        tex = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 80)))
        assert lines._top_level_ops(tex) == _reference_top_level_ops(tex), tex
        for limit in (5, 12, 30, 90):
            assert lines.split_math(tex, limit) == _reference_split_math(tex, limit), (tex, limit)


def test_the_line_breaker_on_a_real_walk_through():
    walk = explain_step(load("softmax-scores"))
    tex = render.render_latex(walk, options=render.Options())
    stages = [s for s in re.findall(r"&= (.+?) \\\\", tex) if len(s) > 40]
    assert len(stages) > 10
    for stage in stages:
        for limit in (20, 48, 90):
            assert lines.split_math(stage, limit) == _reference_split_math(stage, limit)


def test_a_derivative_body_measured_once_breaks_as_the_whole_string_does():
    """A derivative's stage, d/dw [body], is split from its body's cached measure (``head``): the same rows as the
    string measured whole, for bodies with \\biggl[ and long sums, random operators in front included."""
    rng = random.Random(31)
    ops = [r"\frac{\partial}{\partial w_{1}}", r"\frac{\partial}{\partial \mathrm{out}_{h1}}", "(x", "a + b", r"\bigg("]
    bodies = [
        r"\biggl[" + " + ".join(f"w_{{{k}}} \\cdot a_{{{k}}}" for k in range(120)) + r"\biggr]",
        " + ".join(f"\\left(-0.{k}\\right) \\cdot 0.5{k}" for k in range(150)),
        "- " + " - ".join(f"x_{{{k}}}" for k in range(400)),
        "".join(rng.choice(_PIECES) for _ in range(900)),
    ]
    for op in ops:
        for body in bodies:
            tex = f"{op} {body}"
            for limit in (48, 90):
                want = lines.split_math(tex, limit)
                assert lines.split_math(tex, limit, len(op) + 1) == want, (op, body[:60])
                assert want == _reference_split_math(tex, limit)


# -- MathML: a shape converted once, its numbers put back --------------------------------------------------------


def _direct(tex: str, display: bool = False) -> str:
    from latex2mathml.converter import convert

    return templates._tokens(convert(r"\displaystyle " + tex if display else tex, display="inline"))


def test_mathml_from_a_shape_is_what_latex2mathml_writes_for_the_string():
    cases = [
        r"net_{h_{1}} = 0.15 \cdot 0.05 + 0.2 \cdot 0.1 + 0.35 \cdot 1 = 0.3775",
        r"-0.25 + 1.5 - (-2)",
        r"6.75 \cdot 10^{-7}",
        r"\frac{1}{2} \left(0.01 - 0.75136507\right)^{2}",
        r"x^23 + x_12",  # unbraced scripts: latex2mathml splits the digits, so the string itself is converted
        r"\text{step 3} = 4",  # a number inside text is no <mn>
        r"\sqrt[3]{8} = 2",  # a root's index comes after its radicand: stand-ins are put back by their number
        r"w_{1}^{+} = 0.4 - 0.5 \cdot 0.082167041 = 0.35891648",
    ]
    for tex in cases:
        for display in (False, True):
            assert str(templates.mathml.__wrapped__(tex, display)) == _direct(tex, display), tex


def test_mathml_of_a_whole_html_walk_through_is_unchanged(monkeypatch):
    seen: set[tuple[str, bool]] = set()
    plain = templates.mathml

    def spy(tex: str, display: bool = False):
        seen.add((tex, display))
        return plain(tex, display)

    monkeypatch.setattr(templates, "mathml", spy)
    templates._environment.cache_clear()
    try:
        walk = explain_step(load("minibatch"))
        render.render_html(walk, options=render.Options())
    finally:
        templates._environment.cache_clear()
    assert len(seen) > 100
    for tex, display in seen:
        assert str(plain(tex, display)) == _direct(tex, display), tex


# -- graphs -----------------------------------------------------------------------------------------------------


def test_a_graph_indexes_its_nodes_once():
    g = graphspec.load("graph-xyz")
    assert g.node("q") is g.node("q") and g.node("q").name == "q"
    assert g._index is g._index  # built on the first call, not on every one
    assert [g.node(n.name) for n in g.nodes] == list(g.nodes)


# -- derived forms kept between runs -----------------------------------------------------------------------------


@pytest.fixture
def form_cache(tmp_path, monkeypatch):
    """The form cache in a folder of its own, emptied in this process before and after the test."""
    from tutor.engine import formcache, symbolic

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("BACKPROP_TUTOR_NO_CACHE", raising=False)

    def fresh():
        formcache.reset()
        symbolic.loss_forms.cache_clear()

    fresh()
    yield formcache, fresh
    monkeypatch.undo()
    fresh()


@pytest.mark.parametrize("name", ["mazur", "softmax-scores", "batchnorm-sigmoid", "residual-sigmoid", "appendix-b"])
def test_forms_loaded_from_the_cache_are_the_derived_forms(form_cache, name):
    import sympy as sp

    formcache, fresh = form_cache
    net = load(name)
    first = explain_step(net)
    assert formcache._state["hits"] == 0 and formcache._state["misses"] > 0
    formcache._write()
    assert formcache.cache_file().is_file()
    fresh()
    second = explain_step(net)
    assert formcache._state["misses"] == 0 and formcache._state["hits"] > 0
    for key, q in first.quantities.items():
        other = second.quantities[key]
        if q.form is None:
            continue
        assert sp.srepr(other.form.expr) == sp.srepr(q.form.expr), key
        assert other.form.placeholders == q.form.placeholders
        assert other.value == q.value, key  # the same bits: the same code evaluated the same arguments
    options = render.Options()
    assert render.render_markdown(second, options=options) == render.render_markdown(first, options=options)


def test_a_cached_form_is_invalidated_when_the_rule_registry_changes(form_cache, tmp_path, monkeypatch):
    import pickle
    import shutil

    import sympy as sp

    from tutor.engine import symbolic

    formcache, fresh = form_cache
    # the package's sources as the key reads them, in a copy this test may edit
    package = tmp_path / "package"
    for folder in formcache.FOLDERS:
        shutil.copytree(formcache._package() / folder, package / folder, ignore=shutil.ignore_patterns("__pycache__"))
    assert any(p.name == "rules.py" for p in formcache.sources(package))
    monkeypatch.setattr(formcache, "_package", lambda: package)
    fresh()
    sigmoid = symbolic.act_form("sigmoid", ())
    formcache._write()
    old_file = formcache.cache_file()
    # the stored sigmoid replaced by tanh's form: what a stale cache would hand out
    data = pickle.loads(old_file.read_bytes())
    sigmoid_key = next(iter(k for k in data["entries"] if "sigmoid" in k))
    fresh()
    tanh = symbolic.act_form.__wrapped__("tanh", ())
    data["entries"][sigmoid_key] = pickle.dumps(formcache._pack(tanh), protocol=4)
    old_file.write_bytes(pickle.dumps(data, protocol=4))
    fresh()
    assert symbolic.act_form("sigmoid", ()).expr == tanh.expr  # the file is read: the stale entry is served
    # the registry changes (any edit of rules.py): another key, another file, the form derived afresh
    with open(package / "spec/rules.py", "a", encoding="utf-8") as f:
        f.write("\n# an edited rule\n")
    fresh()
    assert formcache.cache_file() != old_file
    again = symbolic.act_form("sigmoid", ())
    assert formcache._state == {"hits": 0, "misses": 1}
    assert sp.srepr(again.expr) == sp.srepr(sigmoid.expr) and again.expr != tanh.expr


def test_a_cache_file_others_may_write_is_not_read(form_cache):
    import os

    import sympy as sp

    from tutor.engine import symbolic

    formcache, fresh = form_cache
    symbolic.act_form("tanh", ())
    formcache._write()
    path = formcache.cache_file()
    os.chmod(path, 0o666)
    fresh()
    symbolic.act_form("tanh", ())
    assert formcache._state == {"hits": 0, "misses": 1}
    path.write_bytes(b"not a pickle")
    os.chmod(path, 0o644)
    fresh()
    assert symbolic.act_form("tanh", ()).expr.has(sp.tanh)  # a damaged file: derived again, no error


def test_a_graph_walk_through_from_cached_gate_forms_is_the_same(form_cache):
    from tutor.engine import graph as graph_engine
    from tutor.render.graph import render as render_graph

    formcache, fresh = form_cache
    g = graphspec.load("graph-xyz")
    graph_engine._kind.cache_clear()
    first = render_graph(graph_engine.explain_graph(g), "md")
    assert formcache._state["misses"] > 0
    formcache._write()
    fresh()
    graph_engine._kind.cache_clear()
    second = render_graph(graph_engine.explain_graph(g), "md")
    assert formcache._state["misses"] == 0 and formcache._state["hits"] > 0
    assert second == first
    graph_engine._kind.cache_clear()


# -- start-up and exit: the entry point -------------------------------------------------------------------------


def test_the_entry_point_imports_with_the_collector_paused_and_resumes_it(monkeypatch):
    """``run`` (``python -m tutor`` and the console script) pauses the cyclic collector only while it imports:
    the command itself runs with the collector on, or a long training run would keep every cycle it made; only
    its full passes are made rarer."""
    import gc

    import tutor.__main__ as entry

    seen = {}

    def fake_main():
        seen["enabled"], seen["frozen"] = gc.isenabled(), gc.get_freeze_count()
        seen["threshold"] = gc.get_threshold()
        return 3

    monkeypatch.setattr("tutor.cli.main", fake_main)
    monkeypatch.setattr(entry, "_leave", lambda status: seen.setdefault("status", status))
    was, threshold = gc.isenabled(), gc.get_threshold()
    try:
        entry.run()
    finally:
        gc.unfreeze()  # this test process's objects go back to the collector
        gc.set_threshold(*threshold)
        (gc.enable if was else gc.disable)()
    assert seen.pop("frozen") > 0
    # full passes are rarer; the younger generations are collected as before
    assert seen == {"enabled": True, "threshold": (*threshold[:2], entry.FULL_PASS_EVERY), "status": 3}


def test_the_quick_exit_keeps_the_status_the_output_and_the_exit_handlers(tmp_path):
    """The entry point leaves without tearing the interpreter down, after the exit handlers: the form cache
    (written by one) is on disk afterwards, what was printed arrives, and the status is main()'s."""
    env = {k: v for k, v in os.environ.items() if k != "BACKPROP_TUTOR_NO_CACHE"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    run = partial(subprocess.run, env=env, capture_output=True, text=True, timeout=120)
    done = run([sys.executable, "-m", "tutor", "explain", "mazur", "--format", "text"])
    assert done.returncode == 0 and done.stderr == ""
    # the whole walk-through arrived: its last line is the loss after the update
    assert done.stdout.rstrip().splitlines()[-1].lstrip().startswith("Loss after:")
    assert list((tmp_path / "cache" / "backprop-tutor").glob("forms-*.pickle"))
    bad = run([sys.executable, "-m", "tutor", "explain", "no-such-example"])
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "error" in bad.stderr


# -- results kept by identity ----------------------------------------------------------------------------------


def test_a_result_kept_by_identity_is_that_objects_alone():
    """``tutor.spec.memo.ByIdentity``, the one memo of forms, walks and trainings: a hit is the very object asked
    about (an equal one misses), the rest of the key tells results apart, None is a result like another, the
    entry keeps its object alive (so no other object can take its id), and a bound empties the table."""
    import gc
    import weakref

    from tutor.spec.memo import MISSING, ByIdentity

    class Form:  # hashable by value, as SymPy's forms are: the table must not use that
        def __eq__(self, other):
            return isinstance(other, Form)

        def __hash__(self):
            return 0

    table = ByIdentity()
    a, b = Form(), Form()
    assert table.put(a, "tex of a", "tex") == "tex of a"
    assert table.get(a, "tex") == "tex of a"
    assert table.get(b, "tex") is MISSING and table.get(a, "text") is MISSING
    assert table.put(b, None) is None and table.get(b) is None
    alive = weakref.ref(a)
    del a
    gc.collect()
    assert alive() is not None  # kept by its entry
    bounded = ByIdentity(bound=2)
    for k in range(3):
        bounded.put(Form(), k)
    assert len(bounded) == 1  # the third found the table full and emptied it
