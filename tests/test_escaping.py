"""Text from a spec reaches every output literally: no LaTeX command runs, no HTML or script appears, no
Markdown or Jinja2 syntax takes effect, and the LaTeX still compiles."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from tutor import render
from tutor.engine.symbolic import explain_step
from tutor.spec import loads
from tutor.spec.errors import SpecError

from .conftest import pdf_pages, screenshot

EVIL = r"\input{/etc/passwd} \write18{touch pwned} $ _ % & # <script>alert(1)</script> {{ 7*7 }}"


def _toml(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


DESCRIPTION = "Description " + EVIL + ' ~^ |a|b| `tick` "quoted" -- x'
SPEC = f"""
title = {_toml("Title " + EVIL)}
description = {_toml(DESCRIPTION)}
source = {_toml("Source " + EVIL)}
[inputs]
names = ["i1", "i2"]
values = [0.05, 0.1]
[[layers]]
name = {_toml("Hidden " + EVIL[:50])}
neurons = ["h1", "h2"]
activation = "sigmoid"
weights = [[0.15, 0.2], [0.25, 0.3]]
bias = 0.35
[[layers]]
name = {_toml("<script>alert(1)</script> {{{{ 7*7 }}}}")}
neurons = ["o1", "o2"]
activation = "sigmoid"
weights = [[0.4, 0.45], [0.5, 0.55]]
bias = 0.6
[loss]
name = "half_sse"
targets = [0.01, 0.99]
[training]
learning_rate = 0.5
"""


def evil_names(net):
    """The network with code in every name: the spec refuses such names, so they are set directly, to show
    that the renderers escape names too and do not rely on the spec's grammar alone."""

    def bad(name: str) -> str:
        return name + EVIL.replace(" ", "")

    def layer(l):
        return replace(
            l,
            neurons=tuple(map(bad, l.neurons)),
            net_names=tuple(map(bad, l.net_names)),
            out_names=tuple(map(bad, l.out_names)),
            bias_labels=tuple(map(bad, l.bias_labels)),
            weight_labels=tuple(tuple(map(bad, row)) for row in l.weight_labels),
        )

    return replace(net, input_names=tuple(map(bad, net.input_names)), layers=tuple(map(layer, net.layers)))


@pytest.fixture(scope="module")
def outputs():
    walks = {"text": explain_step(loads(SPEC)), "names": explain_step(evil_names(loads(SPEC)))}
    out = {}
    for which, walk in walks.items():
        for fmt, fn in (
            ("md", render.render_markdown),
            ("html", render.render_html),
            ("tex", render.render_latex),
            ("text", render.render_text),
        ):
            out[which, fmt] = fn(walk)
    return out


def test_the_spec_refuses_code_as_a_name():
    with pytest.raises(SpecError):
        loads(SPEC.replace('names = ["i1", "i2"]', 'names = ["\\\\input{/etc/passwd}", "i2"]'))


WHICH = ["text", "names"]


@pytest.mark.parametrize("which", WHICH)
def test_markdown(outputs, which):
    md = outputs[which, "md"]
    assert "<script" not in md.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    assert r"\{\{ 7\*7 \}\}" in md and "{{ 7*7 }}" not in md
    assert r"\\input\{/etc/passwd\}" in md  # backslash-escaped: Markdown shows it as typed
    # No dollar sign from the spec outside math: '$' delimits math on GitHub and in Jupyter.
    prose = re.sub(r"\$\$.*?\$\$|\$(?:\\.|[^$\\\n])*\$", "", md, flags=re.S)  # math: "\$" is a dollar in it
    assert "$" not in prose
    if which == "text":
        assert md.startswith(r"# Title \\input\{/etc/passwd\} \\write18\{touch pwned\} &#36; \_ % &amp; \# ")


@pytest.mark.parametrize("which", WHICH)
def test_html(outputs, which):
    html = outputs[which, "html"]
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "{{ 7*7 }}" in html and ">49<" not in html
    assert not re.search(r"\b(src|href)=", html), "the page loads nothing"
    if which == "text":
        assert r"<h1>Title \input{/etc/passwd} \write18{touch pwned} $ _ % &amp; # &lt;script&gt;" in html


@pytest.mark.parametrize("which", WHICH)
def test_latex_source(outputs, which):
    tex = outputs[which, "tex"]
    body = tex.split(r"\begin{document}", 1)[1]
    assert r"\input{" not in body and r"\write18" not in body
    assert r"\textbackslash{}input\{/etc/passwd\}" in body
    assert r"\textbackslash{}write18\{touch pwned\}" in body
    assert r"\{\{ 7*7 \}\}" in body and "49" not in re.sub(r"\d+\.\d+", "", body)


def test_text_is_literal(outputs):
    assert ("Title " + EVIL) in outputs["text", "text"]


@pytest.mark.slow
@pytest.mark.parametrize("which", WHICH)
def test_latex_compiles_and_runs_nothing(outputs, which, tmp_path, monkeypatch):
    import subprocess

    monkeypatch.chdir(tmp_path)
    # A name of 60 characters without a space cannot break: only its line may stick out.
    pdf_pages(outputs[which, "tex"], tmp_path, overfull=which == "names")
    assert not list(tmp_path.rglob("pwned"))
    text = subprocess.run(["pdftotext", "doc.pdf", "-"], capture_output=True, text=True, check=True).stdout
    flat = " ".join(text.split())
    assert r"\input{/etc/passwd}" in flat and "<script>alert(1)</script>" in flat
    if which == "text":
        assert "Title \\input{/etc/passwd} \\write18{touch pwned} $" in flat


@pytest.mark.slow
def test_pdf_renderer_runs_nothing(outputs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pdf = render.compile_pdf(outputs["names", "tex"])
    assert pdf.startswith(b"%PDF")
    assert not list(tmp_path.rglob("pwned"))


@pytest.mark.slow
def test_html_opens_in_chromium(outputs, tmp_path):
    screenshot(outputs["names", "html"], tmp_path)


# -- a training step's document escapes the same text -------------------------------------------------------------

TRAINING_SPEC = SPEC.replace("[training]\nlearning_rate = 0.5", '[training]\nlearning_rate = 0.5\noptimizer = "adam"')


@pytest.fixture(scope="module")
def training_outputs():
    from tutor.render.training import documents

    return documents(("md", "html", "tex", "text"), loads(TRAINING_SPEC), 2, {1, 2})[1]


def test_training_documents_escape_the_spec_text(training_outputs):
    md, html, tex = training_outputs["md"], training_outputs["html"], training_outputs["tex"]
    assert "<script" not in md.lower() and "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    assert md.startswith(r"# Title \\input\{/etc/passwd\} \\write18\{touch pwned\} &#36; \_ % &amp; \# ")
    assert "<script" not in html.lower() and "{{ 7*7 }}" in html and not re.search(r"\b(src|href)=", html)
    body = tex.split(r"\begin{document}", 1)[1]
    assert r"\input{" not in body and r"\write18" not in body and r"\textbackslash{}input\{/etc/passwd\}" in body
    assert ("Title " + EVIL) in training_outputs["text"]


@pytest.mark.slow
def test_training_latex_compiles_and_runs_nothing(training_outputs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pdf_pages(training_outputs["tex"], tmp_path)
    assert not list(tmp_path.rglob("pwned"))


def test_a_spec_worksheet_keeps_the_spec_author_text_inert(tmp_path):
    """worksheet --spec puts the spec's title and its file name on the sheets (Markdown and LaTeX)."""
    from tutor.cli import main
    from tutor.spec.resources import example_path

    spec = example_path("minibatch").read_text(encoding="utf-8")
    spec = re.sub(r'^title = ".*"$', lambda m: "title = " + json.dumps(EVIL), spec, count=1, flags=re.M)
    folder = tmp_path / "a <b>$c$ d"
    folder.mkdir()
    (folder / "spec.toml").write_text(spec, encoding="utf-8")
    assert main(["worksheet", "--spec", str(folder / "spec.toml"), "-o", str(tmp_path / "out")]) == 0
    for name in ("sheet.md", "key.md"):
        md = (tmp_path / "out" / name).read_text(encoding="utf-8")
        prose = re.sub(r"`[^`]*`", "", md)  # a code span (the key's quiz command) shows its text as it is
        assert "<script" not in md and "<b>" not in prose and "{{ 7*7 }}" not in md and "$c$" not in prose
    for name in ("sheet.tex", "key.tex"):
        tex = (tmp_path / "out" / name).read_text(encoding="utf-8")
        assert r"\input{" not in tex and r"\write18{" not in tex


@pytest.mark.parametrize("page", ["interactive", "formulas"])
def test_the_editable_and_formula_pages_keep_spec_text_inert(page):
    """The editable walk-through and the formula self-check: the spec's text only escaped, in HTML or in the
    JSON data (whose '<' is \\u003c), and the page's own scripts the only ones, each named by the policy."""
    from tutor.render.interactive import render_interactive, script_hash
    from tutor.teach import selfcheck
    from tutor.teach.quiz import Quiz

    net = loads(SPEC)
    html = render_interactive(explain_step(net)) if page == "interactive" else selfcheck.page(Quiz(net), symbolic=True)
    assert "alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "{{ 7*7 }}" in html and ">49<" not in html
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html).group(1).replace("&#39;", "'")
    assert scripts and all(script_hash(s) in policy for s in scripts)
    assert "alert" not in "".join(scripts)
    for data in re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', html, re.S):
        assert "<" not in data
        json.loads(data)
