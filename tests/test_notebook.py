"""Notebook use: tutor.explain and tutor.check, what Jupyter displays, saving, lazy imports, the worked notebook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tutor
from tutor.notebook import html_fragment, latex_fragment
from tutor.spec.errors import TutorError

from .conftest import require_program
from .support import assert_error_starts, require_module

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "worked_examples" / "notebook.ipynb"


@pytest.fixture(scope="module")
def mazur():
    return tutor.explain("mazur")


def test_explain_gives_every_value_and_both_checks(mazur):
    assert round(mazur.values["w5+"], 8) == 0.35891648
    assert mazur.value("dE_total/dw5") == mazur.walk.value("dE_total/dw5")
    assert mazur.check.ok and mazur.framework_check is None and mazur.ok
    with pytest.raises(TutorError, match=r"unknown quantity 'dE_total/dw55'; close matches: dE_total/dw5"):
        mazur.value("dE_total/dw55")


def test_jupyter_representations_hold_the_math_and_the_numbers(mazur):
    md, page, tex = mazur._repr_markdown_(), mazur._repr_html_(), mazur._repr_latex_()
    for text in (md, page, tex):
        assert "0.35891648" in text
    assert "\\frac{\\partial" in md and "\\frac{\\partial" in tex
    assert "<math" in page
    # fragments for a page that is not theirs: no second document, styles scoped to the output
    assert page.startswith('<div class="backprop-tutor">') and "<body" not in page and "<html" not in page
    assert "\\documentclass" not in tex and "\\begin{document}" not in tex
    css = page.split("<style>", 1)[1].split("</style>", 1)[0]
    assert all(line.startswith(".backprop-tutor") for line in css.strip().splitlines())


def test_fragments_of_documents_without_a_body_are_left_as_they_are():
    assert html_fragment("<p>x</p>") == "<p>x</p>"
    assert latex_fragment("$x$") == "$x$"


@pytest.mark.parametrize(
    "suffix, marker",
    [
        (".md", "# Mazur"),
        (".tex", "\\documentclass"),
        (".html", "<!DOCTYPE html>"),
        (".txt", "1. Forward pass"),
        (".json", '"values"'),
    ],
)
def test_save_picks_the_format_from_the_suffix(mazur, tmp_path, suffix, marker):
    path = mazur.save(tmp_path / f"step{suffix}")
    text = path.read_text(encoding="utf-8")
    assert marker in text
    if suffix == ".json":
        assert round(json.loads(text)["values"]["w5+"], 8) == 0.35891648


@pytest.mark.slow
def test_save_pdf(mazur, tmp_path):
    require_program("pdflatex")
    assert mazur.save(tmp_path / "step.pdf").read_bytes().startswith(b"%PDF")


def test_save_refuses_an_unknown_suffix_and_an_unwritable_path(mazur, tmp_path):
    with pytest.raises(
        TutorError, match=r"step\.docx: unknown suffix '\.docx'; allowed: \.md, \.tex, \.html, \.pdf, \.json, \.txt"
    ):
        mazur.save("step.docx")
    with pytest.raises(TutorError, match=r"cannot write the file"):
        mazur.save(tmp_path / "no" / "such" / "step.md")


def test_explain_takes_specs_mappings_networks_and_options(tmp_path):
    spec = ROOT / "worked_examples" / "mazur" / "spec.toml"
    a = tutor.explain(spec, rounding="as-printed", digits=9)
    assert a.walk.conventions.rounding == "as-printed" and round(a.values["dE_o2/dout_h1"], 9) == -0.019049119
    assert a.check.notes  # checked in exact arithmetic
    b = tutor.explain(tutor.load("appendix-b"), forward_only=True)
    assert b.check is None and not b.walk.params
    c = tutor.explain(
        {
            "inputs": {"values": [1.0]},
            "layers": [{"size": 1, "activation": "identity", "weights": [[2.0]]}],
            "loss": {"name": "half_sse", "targets": [1.0]},
            "training": {"learning_rate": 0.1},
        },
        check=False,
    )
    assert c.values["dE_total/dw1_11"] == 1.0 and c.check is None


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: tutor.explain("mazur", layout="in_out"),
            "explain(): unknown option 'layout' for a network or spec; allowed: loss, learning_rate",
        ),
        (
            lambda: tutor.explain([[[1.0]]], x=[1.0]),
            "explain(): give the example's inputs x and targets y for a network of weight arrays",
        ),
        (lambda: tutor.explain(3.5), "explain(): expected a tutor Network, a spec file"),
        (lambda: tutor.explain("no-such-example"), "no-such-example: no such file or built-in example"),
        (
            lambda: tutor.explain("mazur", rounding="sometimes"),
            "conventions.rounding: rounding 'sometimes' is not one of",
        ),
    ],
)
def test_explain_bad_input_names_the_place(call, message):
    assert_error_starts(call, message)


GRAPH_TOML = """
title = "A tanh neuron"
[graph]
leaves = { w = 0.5, x = 2.0, b = -0.25 }
assign = { n = "w * x + b", o = "tanh(n)" }
"""


def test_graphs_inline_toml_text_a_mapping_and_a_one_line_expression():
    from tutor.spec.graph import Graph

    graph = tutor.loads(GRAPH_TOML)
    assert isinstance(graph, Graph) and graph.output == "o"
    for given in (
        graph,
        tutor.spec.graph.loads(GRAPH_TOML),
        {
            "title": "A tanh neuron",
            "graph": dict(leaves={"w": 0.5, "x": 2.0, "b": -0.25}, assign={"n": "w * x + b", "o": "tanh(n)"}),
        },
    ):
        g = tutor.explain(given)
        assert g.ok and g.value("o") == pytest.approx(0.6351489523872873, rel=1e-15)
        # do/dw = (1 - tanh(n)^2) x
        assert g.gradients["w"] == pytest.approx((1 - 0.6351489523872873**2) * 2.0, rel=1e-14)
    f = tutor.explain("f = (x + y) * z", x=-2, y=5, z=-4)
    assert (f.value("f"), f.gradients["x"], f.gradients["y"], f.gradients["z"]) == (-12.0, -4.0, -4.0, 3.0)
    assert repr(f) == "<GraphExplanation of f = (x + y) * z: f -12 at x = -2, y = 5, z = -4; gradient check ok>"
    assert_error_starts(lambda: tutor.explain("f = x * q", x=2), "explain(): graph.assign.f")
    assert_error_starts(lambda: tutor.explain("f = x * y"), "explain(): give every leaf's value")
    assert_error_starts(lambda: tutor.explain(graph, x=[1.0]), "explain(): a graph spec carries its own leaf values")


def _every_explanation():
    yield tutor.explain("mazur")
    yield tutor.explain("minibatch")
    yield tutor.explain("f = (x + y) * z", x=-2, y=5, z=-4)
    yield tutor.explain("graph-xyz")


def test_every_explanation_has_the_same_methods_and_a_short_repr(tmp_path):
    methods = (
        "save",
        "to_markdown",
        "to_latex",
        "to_html",
        "to_text",
        "to_json",
        "to_pdf",
        "_repr_html_",
        "_repr_markdown_",
        "_repr_latex_",
        "value",
        "values",
        "ok",
    )
    for e in _every_explanation():
        assert all(hasattr(e, m) for m in methods), type(e).__name__
        assert repr(e).startswith("<") and len(repr(e)) < 220, repr(e)
        assert e.save(tmp_path / "e.md").read_text(encoding="utf-8") == e.to_markdown()
        assert json.loads(e.to_json()) and '<div class="backprop-tutor">' in e._repr_html_()


def test_a_micrograd_explanation_has_the_same_methods():
    engine = require_module("micrograd.engine", "micrograd")
    a, b = engine.Value(2.0), engine.Value(3.0)
    c = (a * b + a).relu() * a + b**2
    c.backward()
    e = tutor.explain(c)
    assert e.ok and e.framework_check.max_rel <= 1e-15 and len(repr(e)) < 220
    assert "Cross-check against micrograd's .grad" in e.to_markdown() and e.to_latex() and e.to_html()


def test_explain_a_torch_model_ends_with_the_autograd_check():
    torch = require_module("torch")
    nn = torch.nn
    torch.manual_seed(11)
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1), nn.Sigmoid())
    e = tutor.explain(model, x=[0.1, 0.4, -0.3], y=[1.0], loss="binary_cross_entropy", learning_rate=0.2)
    assert e.framework_check.ok and e.ok and "PyTorch" in repr(e)
    for text in (e.to_markdown(), e.to_html(), e.to_latex(), e.to_text()):
        assert "Cross-check against PyTorch" in text and "dE_total/dw1_11" in text.replace("\\_", "_")
    assert e.to_html().index("Cross-check against PyTorch") < e.to_html().index("</main>")
    assert e.to_latex().rstrip().endswith("\\end{document}")
    doc = json.loads(e.to_json())
    assert doc["framework_check"]["ok"] and len(doc["framework_check"]["rows"]) > e.network.parameter_count
    with pytest.raises(TutorError, match=r"give the example's inputs x and targets y for a PyTorch model"):
        tutor.explain(model)
    with pytest.raises(TutorError, match=r"unknown option 'layout' for a PyTorch model"):
        tutor.explain(model, x=[0, 0, 0], y=[1.0], layout="in_out")


def test_explain_a_training_spec_gives_its_first_step(tmp_path, capsys):
    """A batch, an optimizer, batch normalization: explain() gives what 'backprop-tutor explain SPEC' shows."""
    from tutor.cli import main

    for name in ("minibatch", "optimizer-adam", "batchnorm-sigmoid"):
        e = tutor.explain(name)
        assert isinstance(e, tutor.notebook.TrainingExplanation) and e.ok
        assert main(["explain", name, "--format", "md"]) == 0
        assert e.to_markdown() == capsys.readouterr().out
    e = tutor.explain("minibatch")
    assert round(e.values["W5new"], 6) == -0.220094 and round(e.value("dE/dW5[e1]"), 9) == round(
        e.values["dE/dW5[e1]"], 9
    )
    assert (
        repr(e) == "<Explanation of Mini-batches of two (2-2-1): training step 1 on examples 1, 2 of 4; 124 quantities>"
    )
    doc = json.loads(e.save(tmp_path / "step.json").read_text(encoding="utf-8"))
    assert doc["format"] == "backprop-tutor-train/1" and doc["shown_steps"][0]["step"] == 1
    assert "W5new" in e._repr_markdown_() or "W_{5}" in e._repr_markdown_()


def test_explain_a_torch_model_with_batch_norm_in_training_mode_checks_the_batch_against_autograd():
    torch = require_module("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(2, 2, bias=False), torch.nn.BatchNorm1d(2), torch.nn.Tanh(), torch.nn.Linear(2, 3)
    )
    x = torch.tensor([[0.5, 0.1], [0.2, -0.3], [0.9, 0.4]])
    e = tutor.explain(model, x=x, y=torch.tensor([2, 0, 1]), loss="categorical_cross_entropy")
    fc = e.framework_check
    assert e.ok and fc.max_rel < 1e-12, fc.max_rel
    # the loss, 4 weights and 2 gammas and 2 betas of layer 1 (no bias), 6 weights and 3 biases of layer 2
    assert len(fc.rows) == 1 + 4 + 4 + 6 + 3 and {r.key for r in fc.rows} >= {"dE/dgamma_h1", "dE/dbeta_h2"}
    with_bias = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3), torch.nn.Sigmoid())
    e2 = tutor.explain(with_bias, x=x, y=torch.tensor([[0.1, 0.5, 0.9]] * 3), loss="half_sse")
    # the bias before the normalization has a gradient of 0 up to rounding, on both sides
    assert e2.ok and any("zero up to rounding" in n for n in e2.framework_check.notes)
    assert "Cross-check against PyTorch" in e2.to_markdown()


def test_check_takes_files_mappings_and_lists(tmp_path):
    report = tutor.check("mazur", {"w5+": "0.35891648", "E_total": "0.2893"})
    assert not report.ok and [v.status for v in report.verdicts] == ["agrees", "wrong"]
    assert "**wrong**" in report._repr_markdown_() and "CheckReport" in repr(report)
    claims = tmp_path / "claims.toml"
    claims.write_text('[[claim]]\nquantity = "dE_total/dw5"\nvalue = "0.082167041"\n', encoding="utf-8")
    assert tutor.check("mazur", claims).ok
    assert tutor.check("mazur", [{"quantity": "w5+", "value": "0.35891648"}]).ok
    assert json.loads(tutor.check("mazur", {"claim": [{"quantity": "w5+", "value": "0.3589"}]}).to_json())["ok"]
    assert len(tutor.check("appendix-a").verdicts) > 3  # a built-in example's own claims
    assert tutor.check("mazur", {"w5+": "0.3589"}).save(tmp_path / "r.txt").read_text(encoding="utf-8")
    with pytest.raises(TutorError, match=r"give the claims: only a built-in example has its own transcribed claims"):
        tutor.check(tutor.load("mazur"))
    with pytest.raises(TutorError, match=r"unknown quantity 'w55\+'"):
        tutor.check("mazur", {"w55+": "0.3"})
    with pytest.raises(TutorError, match=r"give the value as a string"):
        tutor.check("mazur", {"w5+": 0.3589})


def test_quiz_of_a_spec_or_a_random_network():
    from tutor.api import quiz

    q = quiz("mazur", digits=9)
    assert q.current.key == "net_h1" and q.respond("0.3775").verdict == "correct"
    r = quiz(seed=7, shape=(2, 2, 1))
    assert r.network.shape == (2, 2, 1) and r.origin["seed"] == 7 and r.questions
    with pytest.raises(
        TutorError, match=r"^quiz\(\): give either a spec or the random network's seed and shape, not both"
    ):
        quiz("mazur", seed=3)


# -- imports --------------------------------------------------------------------------------------------------

HEAVY = ("torch", "matplotlib", "jinja2", "sympy")


def _loaded_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT, timeout=120
    )
    return json.loads(out.stdout.strip().replace("'", '"'))


def test_import_tutor_loads_no_heavy_module():
    assert _loaded_after("import tutor") == []
    assert _loaded_after("import tutor; tutor.load('mazur'); tutor.explain; tutor.from_torch") == []
    # explaining needs SymPy, and rendering Jinja2, only when displayed; torch only for a torch model
    assert _loaded_after("import tutor; e = tutor.explain('mazur')") == ["sympy"]
    assert _loaded_after("import tutor; tutor.explain('mazur')._repr_markdown_()") == ["jinja2", "sympy"]


# -- the worked notebook, run by a real Jupyter kernel -------------------------------------------------------


def _outputs(nb) -> list[dict]:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]


# A kernel's start and every kind of explanation rendered take 10-30 s: CI's slow run executes the notebook, with
# torch and without it.
@pytest.mark.slow
@pytest.mark.parametrize("torch_hidden", [False, True], ids=["as-installed", "without-torch"])
def test_worked_notebook_runs_in_a_jupyter_kernel(tmp_path, monkeypatch, torch_hidden):
    """The notebook runs on a real kernel with or without PyTorch: its torch cells run only where torch is."""
    import importlib.util

    with_torch = importlib.util.find_spec("torch") is not None and not torch_hidden
    nbformat = require_module("nbformat")
    nbclient = require_module("nbclient")
    require_module("ipykernel")
    # A kernel of this very interpreter, whatever kernels the machine has installed.
    spec_dir = tmp_path / "jupyter" / "kernels" / "backprop-tutor-test"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "backprop-tutor test",
                "language": "python",
            }
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    paths = [str(ROOT), os.environ.get("PYTHONPATH")]
    if torch_hidden:  # a package named torch that cannot be imported, as on a machine without PyTorch
        shim = tmp_path / "no-torch" / "torch"
        shim.mkdir(parents=True)
        (shim / "__init__.py").write_text("raise ImportError('torch is hidden by the test')\n", encoding="utf-8")
        paths.insert(0, str(shim.parent))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, paths)))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    work = tmp_path / "run"
    work.mkdir()
    # iopub_timeout: how long nbclient waits, after a cell's reply, for the output still on its way. Its default
    # (4 s) lost the quiz cell's printed lines once in a full CI run with both cores busy: the cell ran, its
    # output came later than that, and nbclient went on without it. A late output is now waited for (a bound on
    # waiting, not on speed), and one that never comes is an error rather than a silently shorter notebook.
    nbclient.NotebookClient(
        nb,
        timeout=120,
        iopub_timeout=60,
        raise_on_iopub_timeout=True,
        kernel_name="backprop-tutor-test",
        resources={"metadata": {"path": str(work)}},
    ).execute()

    outputs = _outputs(nb)
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "w5+ = 0.35891648" in text and "w5+ from x @ W arrays = 0.35891648" in text
    assert "gradient check agrees: True" in text and "mazur-step.html" in text and "graph.json" in text
    assert "df/dx = -4.0  df/dy = -4.0  df/dz = 3.0" in text  # the inline graph, (x + y) z at (-2, 5, -4)
    assert "training step 1 on examples 1, 2, 3 of 3" in text  # batch normalization's first step
    assert "question: net_h1" in text and "\ncorrect\n" in text  # the quiz: a wrong answer, then the right one
    shown = [o.data for o in outputs if o.output_type in ("execute_result", "display_data")]
    explanations = [d for d in shown if "text/latex" in d]
    with_micrograd = importlib.util.find_spec("micrograd") is not None
    # Mazur's, the tanh neuron's graph, micrograd's where it is, batch normalization's, the torch model's where it is
    assert len(explanations) == 3 + with_micrograd + with_torch
    mazur = explanations[0]
    assert "0.35891648" in mazur["text/html"] and "<math" in mazur["text/html"]
    assert "\\frac{\\partial" in mazur["text/latex"] and "\\frac{\\partial" in mazur["text/markdown"]
    assert "One tanh neuron" in explanations[1]["text/markdown"]
    if with_micrograd:
        assert "Cross-check against micrograd" in explanations[2]["text/markdown"]
    assert "gamma" in explanations[2 + with_micrograd]["text/markdown"]
    if with_torch:
        torch_step = explanations[-1]
        assert "agrees: True" in text.split("largest relative difference")[1] and "torch-step.json" in text
        assert "Cross-check against PyTorch" in torch_step["text/html"] and "agrees." in torch_step["text/markdown"]
        assert "Adam" in torch_step["text/markdown"] and "traced by torch.fx" in torch_step["text/markdown"]
    else:
        assert "PyTorch is not installed" in text and "torch-step" not in text
    pages = [d for d in shown if "<script" in d.get("text/html", "") and "text/latex" not in d]
    assert len(pages) == 1 and 'class="bt-selfcheck"' in pages[0]["text/html"]  # the self-check page
    assert any("**wrong**" in d.get("text/markdown", "") or "holds under" in d.get("text/markdown", "") for d in shown)


# -- the LaTeX a notebook exports ---------------------------------------------------------------------------

# What nbconvert's LaTeX template loads, in short (color for its xcolor, which texlive-latex-base lacks; its
# 11pt article with 1in margins and graphicx): an output's text/latex is pasted into such a document.
NBCONVERT_LIKE = (
    "\\documentclass[11pt]{article}\n\\usepackage{graphicx}\n\\usepackage{geometry}\n"
    "\\geometry{verbose,tmargin=1in,bmargin=1in,lmargin=1in,rmargin=1in}\n\\usepackage{amsmath}\n"
    "\\usepackage{longtable}\n\\usepackage{color}\n\\usepackage{hyperref}\n\\begin{document}\n"
    "%s\n\n%s\n\\end{document}\n"
)


@pytest.mark.slow
def test_latex_with_the_torch_check_compiles(tmp_path):
    from .conftest import pdf_pages

    torch = require_module("torch")
    torch.manual_seed(2)
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Softplus(), torch.nn.Linear(2, 1))
    e = tutor.explain(model, x=[0.5, 0.25], y=[0.1], loss="mse")
    (tmp_path / "standalone").mkdir()
    assert pdf_pages(e.to_latex(), tmp_path / "standalone")
    # two outputs in one exported notebook: their macros must not clash
    (tmp_path / "pasted").mkdir()
    assert pdf_pages(NBCONVERT_LIKE % (e._repr_latex_(), tutor.explain("mazur")._repr_latex_()), tmp_path / "pasted")
