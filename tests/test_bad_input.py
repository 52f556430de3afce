"""Bad input: a one-line error naming the place and what is allowed, exit status 2, no traceback."""

from __future__ import annotations

import os
import re

import pytest

from tutor.cli import main
from tutor.spec import MAX_PARAMETERS

GOOD = """
title = "t"
[inputs]
names = ["x1", "x2"]
values = [0.5, -0.25]
[[layers]]
neurons = ["h1", "h2"]
activation = "sigmoid"
weights = [[0.1, 0.2], [0.3, 0.4]]
bias = 0.1
[[layers]]
neurons = ["o1"]
activation = "sigmoid"
weights = [[0.5, 0.6]]
bias = 0.2
[loss]
name = "half_sse"
targets = [1.0]
[training]
learning_rate = 0.5
"""


def run(tmp_path, capsys, text: str, *extra: str) -> tuple[int, str]:
    path = tmp_path / "spec.toml"
    path.write_text(text, encoding="utf-8")
    rc = main(["explain", str(path), "--format", "json", *extra])
    out, err = capsys.readouterr()
    return rc, err


def assert_clean_error(rc: int, err: str, *fragments: str) -> None:
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def test_good_spec_runs(tmp_path, capsys):
    rc, err = run(tmp_path, capsys, GOOD)
    assert rc == 0 and err == ""


def test_malformed_toml(tmp_path, capsys):
    rc, err = run(tmp_path, capsys, GOOD.replace('title = "t"', 'title = "t'))
    assert_clean_error(rc, err, "spec.toml", "malformed TOML", "line 2")


@pytest.mark.parametrize(
    "old,new,fragments",
    [
        ("weights = [[0.5, 0.6]]", "weights = [[0.5, 0.6, 0.7]]", ["layers[1].weights[0]", "expected 2 numbers"]),
        (
            "weights = [[0.5, 0.6]]",
            "weights = [[0.5, 0.6], [0.1, 0.1]]",
            ["layers[1].weights", "expected 1 rows", "got 2 rows"],
        ),
        ("weights = [[0.1, 0.2], [0.3, 0.4]]", "weights = [0.1, 0.2]", ["layers[0].weights[0]"]),
        ("values = [0.5, -0.25]", "values = [0.5]", ["inputs.names", "expected a list of 1 names"]),
        ("targets = [1.0]", "targets = [1.0, 0.0]", ["loss.targets", "2 targets for 1 output neurons"]),
    ],
)
def test_wrong_shapes(tmp_path, capsys, old, new, fragments):
    assert old in GOOD
    rc, err = run(tmp_path, capsys, GOOD.replace(old, new, 1))
    assert_clean_error(rc, err, *fragments)


def test_unknown_activation_lists_allowed(tmp_path, capsys):
    rc, err = run(tmp_path, capsys, GOOD.replace('activation = "sigmoid"', 'activation = "sigmod"', 1))
    assert_clean_error(
        rc, err, "layers[0].activation", "unknown activation 'sigmod'", "did you mean 'sigmoid'", "allowed:", "tanh"
    )


def test_unknown_loss(tmp_path, capsys):
    rc, err = run(tmp_path, capsys, GOOD.replace('"half_sse"', '"cross"'))
    assert_clean_error(rc, err, "loss.name", "unknown loss 'cross'", "allowed:", "half_sse")


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
@pytest.mark.parametrize(
    "where,old",
    [
        ("inputs.values[1]", "-0.25"),
        ("layers[0].weights[1][0]", "0.3"),
        ("loss.targets[0]", "1.0]"),
        ("training.learning_rate", "0.5\n"),
    ],
)
def test_non_finite_numbers(tmp_path, capsys, bad, where, old):
    new = bad + ("]" if old.endswith("]") else "\n" if old.endswith("\n") else "")
    rc, err = run(tmp_path, capsys, GOOD.replace(old, new, 1))
    assert_clean_error(rc, err, where, "finite number")


@pytest.mark.parametrize("lr", ["0", "-0.1"])
def test_learning_rate_must_be_positive(tmp_path, capsys, lr):
    rc, err = run(tmp_path, capsys, GOOD.replace("learning_rate = 0.5", f"learning_rate = {lr}"))
    assert_clean_error(rc, err, "training.learning_rate", "must be > 0")


def test_empty_layer(tmp_path, capsys):
    text = GOOD.replace('neurons = ["h1", "h2"]', "neurons = []").replace(
        "weights = [[0.1, 0.2], [0.3, 0.4]]", "weights = []"
    )
    rc, err = run(tmp_path, capsys, text)
    assert_clean_error(rc, err, "layers[0].neurons", "at least one neuron")


def test_no_layers_and_no_inputs(tmp_path, capsys):
    rc, err = run(
        tmp_path,
        capsys,
        '[inputs]\nvalues = [1.0]\n[loss]\nname = "mse"\ntargets = [1.0]\n[training]\nlearning_rate = 1\n',
    )
    assert_clean_error(rc, err, "layers", "at least one [[layers]]")
    rc, err = run(
        tmp_path,
        capsys,
        GOOD.replace("values = [0.5, -0.25]", "values = []").replace('names = ["x1", "x2"]', "names = []"),
    )
    assert_clean_error(rc, err, "inputs.values", "at least one input")


def test_huge_network_refused_with_the_limit(tmp_path, capsys):
    row = "[" + ", ".join(["0.001"] * 1000) + "]"
    weights = "[" + ", ".join([row] * 1000) + "]"  # 10^6 weights
    text = (
        f'[inputs]\nvalues = [{", ".join(["1.0"] * 1000)}]\n[[layers]]\nsize = 1000\nactivation = "relu"\n'
        f'weights = {weights}\n[[layers]]\nsize = 1\nactivation = "identity"\nweights = [[1.0]]\n'
        '[loss]\nname = "mse"\ntargets = [0.0]\n[training]\nlearning_rate = 0.1\n'
    )
    rc, err = run(tmp_path, capsys, text)
    assert_clean_error(rc, err, "spec.toml")
    assert str(MAX_PARAMETERS) in err or "256" in err


def test_wide_layer_refused_before_reading_weights(tmp_path, capsys):
    text = GOOD.replace('neurons = ["h1", "h2"]', "size = 100000", 1)
    rc, err = run(tmp_path, capsys, text)
    assert_clean_error(rc, err, "layers[0].neurons", "at most 256")


def test_many_parameters_refused(tmp_path, capsys):
    # 30 inputs -> 40 -> 30: 1,240 + 1,230 parameters, each layer within the width limit
    def w(rows, cols):
        return "[" + ", ".join(["[" + ", ".join(["0.01"] * cols) + "]"] * rows) + "]"

    text = (
        f'[inputs]\nvalues = [{", ".join(["1.0"] * 30)}]\n[[layers]]\nsize = 40\nactivation = "relu"\n'
        f'weights = {w(40, 30)}\n[[layers]]\nsize = 30\nactivation = "relu"\nweights = {w(30, 40)}\n'
        f'[loss]\nname = "mse"\ntargets = [{", ".join(["0.0"] * 30)}]\n[training]\nlearning_rate = 0.1\n'
    )
    rc, err = run(tmp_path, capsys, text)
    assert_clean_error(rc, err, "layers[1]", f"more than {MAX_PARAMETERS} parameters")


INJECTION = "__import__('os').system('touch pwned')"


@pytest.mark.parametrize(
    "old,new,fragments",
    [
        ('activation = "sigmoid"', f'activation = "{INJECTION}"', ["layers[0].activation", "unknown activation"]),
        ('name = "half_sse"', f'name = "{INJECTION}"', ["loss.name", "unknown loss"]),
        (
            'neurons = ["h1", "h2"]',
            f'neurons = ["h1", "{INJECTION}"]',
            ["layers[0].neurons[1]", "a name starts with a letter"],
        ),
        ('names = ["x1", "x2"]', f'names = ["{INJECTION}", "x2"]', ["inputs.names[0]", "a name starts with a letter"]),
        ("bias = 0.1", f'bias = 0.1\nbias_label = "{INJECTION}"', ["layers[0].bias_label", "a name starts"]),
        ("bias = 0.2", f'bias = 0.2\nweight_labels = [["w5", "{INJECTION}"]]', ["layers[1].weight_labels[0][1]"]),
    ],
)
def test_code_in_names_is_refused_and_never_run(tmp_path, capsys, monkeypatch, old, new, fragments):
    monkeypatch.chdir(tmp_path)
    assert old in GOOD
    rc, err = run(tmp_path, capsys, GOOD.replace(old, new, 1))
    assert_clean_error(rc, err, *fragments)
    assert not os.path.exists(tmp_path / "pwned")


def test_unknown_keys_are_named(tmp_path, capsys):
    rc, err = run(tmp_path, capsys, GOOD.replace("[training]", "[training]\nlearnig_rate = 1"))
    assert_clean_error(rc, err, "training.learnig_rate", "unknown key", "learning_rate")


def test_wrong_types(tmp_path, capsys):
    rc, err = run(tmp_path, capsys, GOOD.replace("values = [0.5, -0.25]", 'values = [0.5, "a"]'))
    assert_clean_error(rc, err, "inputs.values[1]", "expected a number")
    rc, err = run(tmp_path, capsys, GOOD.replace("learning_rate = 0.5", "learning_rate = true"))
    assert_clean_error(rc, err, "training.learning_rate", "expected a number")


def test_missing_file_and_bad_options(tmp_path, capsys):
    rc = main(["explain", str(tmp_path / "nope.toml")])
    err = capsys.readouterr().err
    assert_clean_error(rc, err, "nope.toml", "no such file or built-in example", "mazur")
    rc = main(["explain", "mazur", "--rounding", "sloppy"])
    assert_clean_error(rc, capsys.readouterr().err, "--rounding", "invalid choice")
    rc = main(["explain", "mazur", "--digits", "40"])
    assert_clean_error(rc, capsys.readouterr().err, "--digits", "1 to 15")
    for cmd in (["train", "mazur", "--digits", "0"], ["check", "mazur", "--digits", "16"]):
        assert_clean_error(main(cmd), capsys.readouterr().err, "--digits", "1 to 15")


def test_binary_step_has_no_gradient(tmp_path, capsys):
    text = GOOD.replace('activation = "sigmoid"', 'activation = "binary_step"', 1)
    rc, err = run(tmp_path, capsys, text)
    assert_clean_error(rc, err, "spec.toml: ", "binary_step", "layers[0]", "forward pass only")
    rc, _ = run(tmp_path, capsys, text, "--forward-only")
    assert rc == 0


def test_loss_and_activation_must_fit(tmp_path, capsys):
    rc, err = run(
        tmp_path,
        capsys,
        GOOD.replace('"half_sse"', '"categorical_cross_entropy"').replace(
            'activation = "sigmoid"\nweights = [[0.5, 0.6]]', 'activation = "relu"\nweights = [[0.5, 0.6]]'
        ),
    )
    assert_clean_error(rc, err, "loss.name", "sigmoid or softmax")
    rc, err = run(tmp_path, capsys, GOOD.replace('activation = "sigmoid"', 'activation = "softmax"', 1))
    assert_clean_error(rc, err, "layers[0].activation", "output layer only")
    rc, err = run(tmp_path, capsys, GOOD.replace('"half_sse"', '"hinge"'))
    assert_clean_error(rc, err, "loss")


def test_duplicate_names(tmp_path, capsys):
    rc, err = run(tmp_path, capsys, GOOD.replace('neurons = ["o1"]', 'neurons = ["h1"]'))
    assert_clean_error(rc, err, "'net_h1'", "layers[0].neurons[0]", "layers[1].neurons[0]", "unique")


def test_error_line_has_no_newlines_even_for_multiline_toml_errors(tmp_path, capsys):
    rc, err = run(tmp_path, capsys, "[inputs\n")
    assert_clean_error(rc, err, "malformed TOML")
    assert re.match(r"^backprop-tutor: error: ", err)


@pytest.mark.parametrize(
    "training,fragments",
    [
        ('optimizer = "adamax"', ["training.optimizer", "unknown optimizer 'adamax'", "did you mean 'adam'", "adamw"]),
        ('optimizer = { name = "adam", beta3 = 0.1 }', ["training.optimizer.beta3", "allowed: beta1, beta2, eps"]),
        ('optimizer = { name = "momentum", beta = 1.5 }', ["training.optimizer.beta", "[0, 1)"]),
        ('optimizer = { name = "adam", eps = 0 }', ["training.optimizer.eps", "> 0"]),
        ("batch = 0", ["training.batch", '"full", "sgd" or a whole number']),
        ('batch = "half"', ["training.batch"]),
        ("decay = -1", ["training.decay", ">= 0"]),
        ('regularization = { kind = "l3", lambda = 0.1 }', ["training.regularization.kind", '"l1" or "l2"']),
        ('regularization = { kind = "l2", lambda = nan }', ["training.regularization.lambda", "finite"]),
        ('regularization = { kind = "l2", lamda = 0.1 }', ["training.regularization.lamda", "unknown key"]),
        ("dropout = { rate = 1.0 }", ["training.dropout.rate", "[0, 1)"]),
        ("dropout = { rate = 0.5, layers = [3] }", ["training.dropout.layers", "0 to 0"]),
        ("dropout = { rate = 0.5, mask = [[1, 2]] }", ["training.dropout.mask[0]", "0 (dropped) or 1 (kept)"]),
        ("dropout = { rate = 0.5, mask = [[1, 0, 1]] }", ["training.dropout.mask[0]", "needs 2 entries"]),
    ],
)
def test_training_keys(tmp_path, capsys, training, fragments):
    rc, err = run(tmp_path, capsys, GOOD.replace("learning_rate = 0.5", "learning_rate = 0.5\n" + training))
    assert_clean_error(rc, err, *fragments)


def test_examples_table(tmp_path, capsys):
    ex = GOOD.replace("values = [0.5, -0.25]\n", "").replace("targets = [1.0]\n", "")
    ok = (
        ex
        + "\n[[examples]]\ninputs = [0.5, -0.25]\ntargets = [1.0]\n[[examples]]\ninputs = [0.1, 0.2]\ntargets = [0.0]\n"
    )
    rc, err = run(tmp_path, capsys, ok)
    assert rc == 0, err
    rc, err = run(tmp_path, capsys, ok.replace("inputs = [0.1, 0.2]", "inputs = [0.1]"))
    assert_clean_error(rc, err, "examples[1].inputs", "every example needs 2")
    rc, err = run(tmp_path, capsys, ok.replace("targets = [0.0]", "targets = [inf]"))
    assert_clean_error(rc, err, "examples[1].targets[0]", "finite")
    rc, err = run(tmp_path, capsys, GOOD + "\n[[examples]]\ninputs = [0.5, -0.25]\ntargets = [1.0]\n")
    assert_clean_error(rc, err, "inputs.values", "not both")
    rc, err = run(
        tmp_path,
        capsys,
        ok.replace("learning_rate = 0.5", "learning_rate = 0.5\nbatch = 2")
        + '[conventions]\nupdate_order = "updated-first"\n',
    )
    assert_clean_error(rc, err, "conventions.update_order", "plain gradient descent")


def test_integers_beyond_float_range_and_folders(tmp_path, capsys):
    rc, err = run(tmp_path, capsys, GOOD.replace("values = [0.5, -0.25]", "values = [0.5, " + "9" * 400 + "]"))
    assert_clean_error(rc, err, "inputs.values[1]", "too large")
    rc = main(["explain", str(tmp_path)])
    assert_clean_error(rc, capsys.readouterr().err, "is a folder")


@pytest.mark.parametrize(
    "notation,fragments",
    [
        ('updated = "{param}"', ["notation.updated", "must differ"]),
        ('loss = "{neuron}"', ["notation.loss", "{neuron} has no meaning"]),
        ('net = "{param}_in"', ["notation.net", "{param} has no meaning", "use {neuron}"]),
    ],
)
def test_notation_patterns(tmp_path, capsys, notation, fragments):
    rc, err = run(tmp_path, capsys, GOOD + "\n[notation]\n" + notation + "\n")
    assert_clean_error(rc, err, *fragments)


def test_reserved_name_and_saturation(tmp_path, capsys):
    rc, err = run(tmp_path, capsys, GOOD.replace("bias = 0.2", 'bias = 0.2\nweight_labels = [["eta", "w2"]]'))
    assert_clean_error(rc, err, "'eta'", "reserved")
    # softplus of a net input past e^709 stays finite; a saturated sigmoid under cross-entropy is an error, not a crash
    rc, err = run(
        tmp_path,
        capsys,
        GOOD.replace('activation = "sigmoid"', 'activation = "softplus"', 1).replace(
            "0.1, 0.2], [0.3", "800, 0.2], [0.3"
        ),
    )
    assert rc == 0, err
    sat = GOOD.replace('"half_sse"', '"binary_cross_entropy"').replace(
        "weights = [[0.5, 0.6]]", "weights = [[500, 600]]"
    )
    # with target 1 the saturated term is 0·ln 0 = 0 (issue 15); with target 0.5 ln(1 - 1) is needed: an error
    rc, err = run(tmp_path, capsys, sat)
    assert rc == 0, err
    rc, err = run(tmp_path, capsys, sat.replace("targets = [1.0]", "targets = [0.5]"))
    assert_clean_error(rc, err, "cannot be computed", "saturated")


def test_conventions_on_the_command_line_keep_the_spec_rules(capsys):
    rc = main(["explain", "optimizer-adam", "--update-order", "updated-first"])
    assert_clean_error(rc, capsys.readouterr().err, "--update-order", "plain gradient descent")


def test_non_regular_files_and_template_folders(tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for cmd, frag in [
        (["check", "mazur", str(fifo)], "not a regular file"),
        (["explain", str(fifo)], "not a regular file"),
        (["quiz", "mazur", "--answers", str(fifo)], "not a regular file"),
        (["explain", "mazur", "--template-dir", str(tmp_path / "none")], "--template-dir"),
    ]:
        assert_clean_error(main(cmd), capsys.readouterr().err, frag)
    (tmp_path / "t" / "text").mkdir(parents=True)
    (tmp_path / "t" / "text" / "walkthrough.txt.j2").write_text("{{ 1 / 0 }}")
    assert_clean_error(
        main(["explain", "mazur", "--template-dir", str(tmp_path / "t")]),
        capsys.readouterr().err,
        "walkthrough.txt.j2",
        "ZeroDivisionError",
    )


def test_claims_beyond_printable_precision(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text(
        '[[claim]]\nquantity = "dE_total/dw1"\nvalue = "0.0004385677344744999"\n'
        '[[claim]]\nquantity = "w1+"\nvalue = "1' + "0" * 60 + '"\n'
    )
    assert_clean_error(main(["check", "mazur", str(path)]), capsys.readouterr().err, "claim[1].value", "at most 40")
    path.write_text('[[claim]]\nquantity = "dE_total/dw1"\nvalue = "0.0004385677344744999"\n')
    assert main(["check", "mazur", str(path)]) == 1  # a wrong claim at 19 decimals is judged, not an error
    assert "WRONG" in capsys.readouterr().out
