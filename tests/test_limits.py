"""At the documented limits (README "Limits"), every format and view of a walk-through is written, or is refused
up front with the limit named (issue 29, item 5). How long they take is measured by ``benchmarks/run.py``, not
asserted here: a test asserts what is written, never a time.

The full matrix renders networks of about 2,000 parameters in every format and is slow: it is marked ``slow``.
The default run keeps the refusals, which must come before any work, on the same networks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tutor.cli import main

ROOT = Path(__file__).resolve().parent.parent


def network_spec(path: Path, sizes: list[int], shared_bias: bool = True, seed: int = 0) -> Path:
    """A sigmoid network of the given layer sizes with two-decimal weights."""
    rng = np.random.default_rng(seed)
    lines = ["[inputs]", "values = [" + ", ".join(f"{v:.2f}" for v in rng.uniform(-1, 1, sizes[0])) + "]"]
    for k in range(1, len(sizes)):
        W = rng.uniform(-0.5, 0.5, (sizes[k], sizes[k - 1]))
        lines += ["[[layers]]", f"size = {sizes[k]}", 'activation = "sigmoid"']
        lines.append("weights = [" + ", ".join("[" + ", ".join(f"{w:.2f}" for w in row) + "]" for row in W) + "]")
        lines.append("bias = 0.1" if shared_bias else "biases = [" + ", ".join(["0.1"] * sizes[k]) + "]")
    lines += ["[loss]", 'name = "half_sse"', "targets = [" + ", ".join(["0.5"] * sizes[-1]) + "]"]
    lines += ["[training]", "learning_rate = 0.1"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def graph_spec(path: Path, assignments: int, leaves: int = 10, seed: int = 0) -> Path:
    """A graph of ``leaves`` leaves and chained assignments, each one or two gates."""
    rng = np.random.default_rng(seed)
    names = [f"x{i}" for i in range(leaves)]
    lines = ["[graph.leaves]"] + [f"{n} = {rng.uniform(-1, 1):.2f}" for n in names] + ["[graph.assign]"]
    for k in range(assignments):
        a, b = rng.choice(names[-8:], 2, replace=False)
        op = "+*-"[k % 3]
        fn = ["", "tanh", "sigmoid", ""][k % 4]
        lines.append(f'n{k} = "{fn}({a} {op} {b})"' if fn else f'n{k} = "{a} {op} {b}"')
        names.append(f"n{k}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- the default run: refusals up front ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wide(tmp_path_factory) -> Path:
    # 256 neurons in a layer and 1,794 parameters: within the limits (2,000 parameters, 256 neurons a layer)
    return network_spec(tmp_path_factory.mktemp("limits") / "wide.toml", [1, 256, 6])


@pytest.mark.parametrize(
    "flags", [["-f", "html"], ["--self-check"], ["-f", "pdf", "-o", "OUT.pdf"], ["-f", "md", "--view", "matrix"]]
)
def test_a_whole_html_or_pdf_walk_through_past_its_limit_is_refused_before_any_work(
    wide, tmp_path, capsys, monkeypatch, flags
):
    from tutor.engine import symbolic

    def no_work(*a, **k):
        raise AssertionError("the walk-through was computed before the refusal")

    monkeypatch.setattr(symbolic, "explain_step", no_work)
    status = main(["explain", str(wide), *[str(tmp_path / "o.pdf") if f == "OUT.pdf" else f for f in flags]])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.count("\n") == 1 and "1794 parameters" in err and "at most" in err, err
    assert "--brief" in err or "leave out --view" in err, err


def test_a_json_history_past_the_output_limit_is_refused_before_training(tmp_path, capsys, monkeypatch):
    from tutor.engine import numeric

    def no_training(*a, **k):
        raise AssertionError("trained before refusing")

    monkeypatch.setattr(numeric, "train", no_training)
    spec = network_spec(tmp_path / "n.toml", [2, 3, 1])
    status = main(["explain", str(spec), "--steps", "1000000", "-f", "json"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1, err
    assert "--steps" in err and "at most 50 MB" in err and "MB" in err
    monkeypatch.undo()
    assert main(["explain", str(spec), "--steps", "3", "-f", "json"]) == 0  # a history that fits is written


def test_train_json_past_the_output_limit_is_refused_before_training(tmp_path, capsys, monkeypatch):
    from tutor.engine import training

    def no_training(*a, **k):
        raise AssertionError("trained before refusing")

    monkeypatch.setattr(training, "run", no_training)
    spec = network_spec(tmp_path / "n.toml", [2, 3, 1])
    text = "".join(line + "\n" for line in spec.read_text().splitlines() if not line.startswith(("values", "targets")))
    text = text.replace("[training]\n", "[training]\nbatch = 1\n")
    text += "".join(f"[[examples]]\ninputs = [0.{k}, 0.5]\ntargets = [0.5]\n" for k in range(10))
    spec.write_text(text)
    status = main(["train", str(spec), "--epochs", "1000000", "-f", "json"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "--epochs" in err and "MB" in err, err


def test_the_readme_names_the_document_limits():
    from tutor.spec.network import MAX_HTML_PARAMETERS, MAX_PDF_PARAMETERS, MAX_VIEW_PARAMETERS

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    limits = readme.split("## Limits", 1)[1].split("\n## ", 1)[0]
    for limit in (MAX_HTML_PARAMETERS, MAX_PDF_PARAMETERS, MAX_VIEW_PARAMETERS):
        assert f"{limit:,} parameters" in limits


# -- the slow run: every format and view at the limits -----------------------------------------------------------

FORMATS = ["text", "json", "md", "tex", "html", "pdf"]
VIEWS = [[], ["--view", "matrix"], ["--view", "paths"], ["--view", "magnitudes"], ["--view", "graph"], ["--brief"]]


@pytest.fixture(scope="module")
def at_the_limits(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("limits")
    return {
        "1-256-6": network_spec(folder / "wide.toml", [1, 256, 6]),  # 256 neurons a layer, 1,794 parameters
        "16 layers": network_spec(folder / "deep.toml", [11] * 17),  # 16 layers, 1,952 parameters
        "graph 198 nodes": graph_spec(folder / "graph.toml", 124),  # 188 gates and 10 leaves
    }


@pytest.mark.slow
@pytest.mark.parametrize("which", ["1-256-6", "16 layers", "graph 198 nodes"])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("view", VIEWS, ids=lambda v: "-".join(v).strip("-") or "plain")
def test_every_format_and_view_at_the_limits_is_written_or_refused_up_front(
    at_the_limits, tmp_path, capsys, which, fmt, view
):
    if which.startswith("graph") and view:
        pytest.skip("views and --brief are the network walk-through's")
    out = tmp_path / f"out.{fmt}"
    status = main(["explain", str(at_the_limits[which]), "-f", fmt, *view, "-o", str(out)])
    err = capsys.readouterr().err
    if status == 0:
        assert err == "" and out.stat().st_size > 0, err
    else:
        assert status == 2 and err.count("\n") == 1 and err.startswith("backprop-tutor: error:"), err
        assert not out.exists(), err  # refused before anything was written
