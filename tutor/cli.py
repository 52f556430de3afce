"""The command line: ``backprop-tutor`` and ``python -m tutor``. The only module that prints or exits."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Callable, Sequence

from . import __version__
from .spec.errors import ComputeError, GradientError, TutorError

PROG = "backprop-tutor"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and an exception, not a SystemExit with a usage dump."""

    def error(self, message: str):  # type: ignore[override]
        raise TutorError(f"{message} (see '{self.prog} --help')")


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Backpropagation, every calculation shown.")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    e = sub.add_parser(
        "explain",
        help="walk through one training step of a network",
        description=("Walk through one training step: forward pass, error, every chain-rule factor, every update."),
    )
    e.add_argument("spec", metavar="SPEC", help="a spec file (TOML) or a built-in example: see 'examples'")
    e.add_argument("--format", "-f", default="text", choices=["text", "json", "md", "tex", "html", "pdf"])
    e.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of standard output")
    e.add_argument(
        "--interactive",
        action="store_true",
        help="with --format html: next/previous controls reveal one calculation a step and highlight it in the diagram",
    )
    e.add_argument(
        "--self-check",
        action="store_true",
        help="write an HTML page with an answer box for every quantity, graded in the browser as the quiz grades",
    )
    _add_conventions(e)
    e.add_argument(
        "--steps", type=int, metavar="N", help="also repeat the step N times and report the loss before and after each"
    )
    e.add_argument("--forward-only", action="store_true", help="show the forward pass and the error only")
    e.add_argument("--no-check", dest="check", action="store_false", help="leave out the gradient-check table")
    e.add_argument("--template-dir", metavar="DIR", help="templates that override the built-in ones block by block")
    e.add_argument(
        "--view",
        action="append",
        choices=["matrix", "paths", "magnitudes"],
        default=[],
        help="also show BP1-BP4 with the matrices, every path from a parameter to the loss, or the "
        "size of the gradient layer by layer (may be repeated)",
    )
    e.add_argument(
        "--notation",
        choices=["spec", "layered"],
        default="spec",
        help="the spec's own names (default) or the z/a/delta notation of BP1-BP4",
    )

    c = sub.add_parser(
        "check",
        help="check the numbers of a published or student solution",
        description=("Compare every claimed number with the tutor's own computation; explain every wrong one."),
    )
    c.add_argument("spec", metavar="SPEC", help="a spec file (TOML) or a built-in example")
    c.add_argument("claims", metavar="CLAIMS", nargs="?", help="a claims file (TOML); a built-in example has its own")
    c.add_argument("--format", "-f", default="text", choices=["text", "md", "json"])
    c.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of standard output")
    _add_conventions(c)

    t = sub.add_parser(
        "train",
        help="train for several epochs: the loss per epoch, chosen steps in full",
        description=(
            "Train for several epochs with the spec's optimizer, batches, regularization and dropout; print the loss "
            "per epoch, walk through the chosen steps, and end with the final forward pass and every parameter."
        ),
    )
    t.add_argument("spec", metavar="SPEC", help="a spec file (TOML) or a built-in example")
    t.add_argument("--epochs", type=int, default=1, metavar="N", help="how many passes over the examples (default 1)")
    t.add_argument(
        "--show",
        default="first,last",
        metavar="WHICH",
        help="steps walked through in full: first, last, every:K, step numbers, none (default first,last)",
    )
    t.add_argument("--format", "-f", default="text", choices=["text", "json", "md", "tex", "html", "pdf"])
    t.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of standard output")
    t.add_argument("--plot", metavar="FILE", help="draw the loss curve to FILE (.png or .svg; needs matplotlib)")
    _add_conventions(t)

    sub.add_parser("examples", help="list the built-in examples")

    q = sub.add_parser(
        "quiz",
        help="practise one training step in the terminal, one value at a time",
        description=(
            "Ask every value of one training step in order (forward pass, error, chain-rule factors, gradients, "
            "updates); credit answers that follow from an earlier mistake and name the misconception behind a wrong one."
        ),
    )
    q.add_argument("spec", metavar="SPEC", nargs="?", help="a spec file (TOML) or a built-in example; or --random")
    q.add_argument("--random", action="store_true", help="a random network (see --seed and --shape)")
    q.add_argument(
        "--seed", type=int, metavar="N", help="the random network's seed, 0 to 4294967295 (default: a new one)"
    )
    _add_random_network(q)
    q.add_argument(
        "--rounding",
        choices=["as-printed", "exact"],
        help="reference values rounded and carried as on paper (default) or exact",
    )
    q.add_argument(
        "--answers", metavar="FILE", help="grade a file of answers (one a line, or KEY = ANSWER) instead of asking"
    )
    q.add_argument("--results", metavar="FILE", help="write every question, answer, verdict and diagnosis as JSON")

    w = sub.add_parser(
        "worksheet",
        help="write numbered random variants: student sheets, answer keys, a Moodle bank",
        description="Write N variants, each a student sheet, an answer key and the full walk-through "
        "in Markdown and LaTeX (PDF with --pdf), and optionally the same questions as Moodle XML.",
    )
    w.add_argument("--count", type=int, default=1, metavar="N", help="how many variants, 1 to 1000 (default 1)")
    w.add_argument(
        "--seed", type=int, default=1, metavar="S", help="variant k is the network of seed S+k-1 (default 1)"
    )
    _add_random_network(w)
    w.add_argument("--output", "-o", metavar="DIR", required=True, help="the folder to write variant-01/, ... into")
    w.add_argument(
        "--format",
        default="all",
        choices=["all", "md", "tex", "html"],
        help="Markdown, LaTeX or both (default); html: a self-check page per variant that grades answers offline",
    )
    w.add_argument("--pdf", action="store_true", help="also compile every LaTeX file with pdflatex")
    w.add_argument("--moodle", metavar="FILE", help="also write the questions as a Moodle XML question bank")

    r = sub.add_parser(
        "regenerate",
        help="rewrite the worked examples' handouts (walkthrough.md, .tex, .html, .pdf, check.md)",
        description="Write every worked_examples/<name>/walkthrough.{md,tex,html,pdf} (and check.md where "
        "the example has a claims.toml) that is out of date: a plain step is explained, a "
        "spec with training settings trained for two updates; the PDF needs pdflatex. With "
        "--check, only report them (exit status 1).",
    )
    r.add_argument(
        "--check", action="store_true", help="write nothing; exit with status 1 when a handout is out of date"
    )
    return p


def _add_conventions(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--rounding", choices=["exact", "as-printed"], help="exact float64, or round every shown value and carry it"
    )
    p.add_argument("--digits", type=int, metavar="D", help="decimals shown (and, as printed, carried)")
    p.add_argument(
        "--update-order",
        choices=["standard", "updated-first"],
        help="hidden deltas with the old weights (standard) or the already updated ones",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument("--update-biases", dest="update_biases", action="store_true", default=None)
    g.add_argument("--no-update-biases", dest="update_biases", action="store_false")


def _add_random_network(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shape", metavar="SIZES", help="layer sizes from inputs to outputs (default 2-2-1)")
    p.add_argument("--activation", metavar="NAME", help="the hidden layers' activation (default sigmoid)")
    p.add_argument("--output-activation", metavar="NAME", help="the output layer's activation (default sigmoid)")
    p.add_argument(
        "--loss", metavar="NAME", help="half_sse (default), mse, binary_cross_entropy or categorical_cross_entropy"
    )
    p.add_argument(
        "--digits",
        type=int,
        metavar="D",
        help="decimals every value is rounded to and carried (default 4, or the spec's)",
    )
    p.add_argument(
        "--tolerance", metavar="T", help="4dp (decimal places) or 3sf (significant figures); default: D decimal places"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 a check failed, 2 bad input)."""
    parser = _build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help and --version
            return int(exc.code or 0)
        if args.command is None:
            parser.print_help()
            return 2
        with warnings.catch_warnings():
            # Overflow inside NumPy is checked where it matters (finite values or a one-line error);
            # its warnings would only add lines to a student's terminal.
            warnings.simplefilter("ignore", RuntimeWarning)
            return _COMMANDS[args.command](args)
    except TutorError as exc:
        # an error found in the network itself (a step's gradient, a value out of range) names the spec it came from
        spec = getattr(locals().get("args"), "spec", None)
        place = f"{spec}: " if spec and isinstance(exc, (GradientError, ComputeError)) and not exc.where else ""
        print(f"{PROG}: error: {place}{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _load(args: argparse.Namespace):
    from .spec.network import load

    if getattr(args, "digits", None) is not None and not 1 <= args.digits <= 15:
        raise TutorError(f"--digits must be from 1 to 15, got {args.digits}")
    net = load(args.spec)
    return net.with_conventions(
        rounding=args.rounding, digits=args.digits, update_order=args.update_order, update_biases=args.update_biases
    )


def _progress(total: int, label: str) -> Callable[[int], None] | None:
    """A progress line on stderr, only for a person at a terminal."""
    if total < 2000 or not sys.stderr.isatty():
        return None
    every = max(total // 100, 1)

    def tick(k: int) -> None:
        if k % every == 0 or k == total:
            sys.stderr.write(f"\r{label} {k}/{total} ({100 * k // total}%)")
            if k == total:
                sys.stderr.write("\n")
            sys.stderr.flush()

    return tick


def _write(args: argparse.Namespace, data: str | bytes) -> None:
    if args.output:
        from .spec.resources import write_file

        write_file(Path(args.output), data)
    elif isinstance(data, bytes):
        sys.stdout.buffer.write(data)
    else:
        sys.stdout.write(data)


def cmd_explain(args: argparse.Namespace) -> int:
    from . import render
    from .engine import numeric
    from .engine.gradcheck import gradient_check
    from .engine.symbolic import explain_step

    if args.steps is not None and not 1 <= args.steps <= 1_000_000:
        raise TutorError(f"--steps must be from 1 to 1000000, got {args.steps}")
    if args.format == "pdf" and not args.output:
        raise TutorError("--format pdf writes a file: give -o FILE.pdf")
    if args.interactive and args.format != "html":
        raise TutorError("makes an HTML page: use it with --format html", "--interactive")
    if args.self_check and args.format not in ("text", "html"):
        raise TutorError("writes an HTML page: leave out --format or give --format html", "--self-check")
    if args.self_check and (args.interactive or args.steps or args.view or args.forward_only):
        raise TutorError(
            "asks the whole step: leave out --interactive, --steps, --view and --forward-only",
            "--self-check",
        )
    net = _load(args)
    options = render.Options(template_dir=args.template_dir, notation=args.notation)
    if args.self_check:
        from .teach import quiz, selfcheck

        _write(args, selfcheck.page(quiz.Quiz(net, rounding=args.rounding, origin={"spec": args.spec})))
        return 0
    if not (net.training.plain and len(net.examples) == 1) and not args.forward_only:
        if args.interactive:
            raise TutorError(
                "steps through one example's plain step; this spec trains on a batch or with another optimizer",
                "--interactive",
            )
        return _explain_training(args, net, options)
    walk = explain_step(net, forward_only=args.forward_only)
    check = gradient_check(net, walk=walk) if (args.check and not args.forward_only) else None
    history = None
    if args.steps:
        history = numeric.train(net, args.steps, progress=_progress(args.steps, "training step"))
    if args.view and args.format == "json":
        raise TutorError("--view shows equations and tables: use --format text, md, tex, html or pdf")
    if args.view and args.forward_only:
        raise TutorError("--view needs the backward pass: leave out --forward-only")
    if args.interactive:
        if args.view or args.steps:
            raise TutorError("--interactive steps through the walk-through only: leave out --view and --steps")
        from .render.interactive import render_interactive

        _write(args, render_interactive(walk, check=check, options=options))
        return 0
    fn = getattr(render, "render_" + _RENDERERS[args.format])
    views = tuple(dict.fromkeys(args.view))  # each view once, in the order asked
    _write(args, fn(walk, check=check, history=history, options=options, **({"views": views} if views else {})))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .engine.symbolic import explain_step
    from .render.check import render_check
    from .spec.resources import example_claims
    from .teach import checker

    net = _load(args)
    claims_path = args.claims or example_claims(args.spec)
    if claims_path is None:
        raise TutorError(f"give a claims file: {args.spec!r} is not a built-in example with transcribed claims")
    walk = explain_step(net)
    report = checker.check(net, checker.load_claims(claims_path, walk.quantities))
    _write(args, render_check(checker.report_data(report), args.format))
    return 0 if report.ok else 1


def _explain_training(args: argparse.Namespace, net, options) -> int:
    """explain for a spec with several examples, another optimizer, decay, regularization or dropout: the
    first training step, walked through over its batch."""
    from .render.training import documents

    if args.view:
        raise TutorError("--view shows one example's plain step; this spec trains on a batch or with another optimizer")
    fmt = _document_format(args.format)
    _write_document(args, documents((fmt,), net, 0, {1}, explain=True, options=options)[1][fmt])
    return 0


def _document_format(fmt: str) -> str:
    return "tex" if fmt == "pdf" else fmt


def _write_document(args: argparse.Namespace, text: str) -> None:
    """Write a rendered document; for --format pdf, its LaTeX compiled by pdflatex."""
    if args.format == "pdf":
        from .render import compile_pdf

        _write(args, compile_pdf(text))
    else:
        _write(args, text)


def cmd_train(args: argparse.Namespace) -> int:
    from .engine import training
    from .render.training import documents, parse_show

    if not 1 <= args.epochs <= 1_000_000:
        raise TutorError(f"--epochs must be from 1 to 1000000, got {args.epochs}")
    if args.format == "pdf" and not args.output:
        raise TutorError("--format pdf writes a file: give -o FILE.pdf")
    net = _load(args)
    total = args.epochs * len(training.batches(net))
    if total > 10_000_000:
        raise TutorError(f"{total} updates is more than 10000000; train for fewer epochs")
    shown = parse_show(args.show, total)
    fmt = _document_format(args.format)
    run, texts = documents((fmt,), net, args.epochs, shown, progress=_progress(total, "training step"))
    if args.plot:
        from .render.plot import loss_curve

        loss_curve(net, run, args.plot)
    _write_document(args, texts[fmt])
    return 0


_RENDERERS = {"text": "text", "json": "json", "md": "markdown", "tex": "latex", "html": "html", "pdf": "pdf"}


def cmd_examples(args: argparse.Namespace) -> int:
    from .spec.network import load
    from .spec.resources import example_names

    names = example_names()
    width = max(map(len, names))
    for name in names:
        net = load(name)
        shape = "-".join(map(str, net.shape))
        print(f"{name:<{width}}  {shape:<13} {net.title}: {net.description}")
    return 0


def cmd_regenerate(args: argparse.Namespace) -> int:
    from . import handouts

    todo = handouts.stale() if args.check else handouts.regenerate()
    for h in todo:
        shown = h.path.relative_to(Path.cwd()) if h.path.is_relative_to(Path.cwd()) else h.path
        print(f"{'out of date' if args.check else 'wrote'}: {shown}")
    if args.check and todo:
        print(f"{len(todo)} handout(s) out of date; run '{PROG} regenerate'", file=sys.stderr)
        return 1
    return 0


def cmd_quiz(args: argparse.Namespace) -> int:
    import json

    from .spec.network import load
    from .teach import quiz, randomnet
    from .teach.diagnose import Tolerance

    shaping = {k: getattr(args, k) for k in ("shape", "activation", "output_activation", "loss")}
    randomly = args.random or args.seed is not None or any(v is not None for v in shaping.values())
    if bool(args.spec) == randomly:
        raise TutorError(
            "give either SPEC (a spec file or built-in example) or --random (with --seed, --shape, ...)", "quiz"
        )
    if randomly:
        seed = randomnet.new_seed() if args.seed is None else args.seed
        made = randomnet.make(seed, randomnet.options(**shaping, digits=args.digits))
        net, origin = made.network, {"seed": seed, "command": f"{PROG} quiz --random {made.command}"}
    else:
        if args.digits is not None:
            randomnet.options(digits=args.digits)
        net, origin = load(args.spec), {"spec": args.spec}
    if args.results and not Path(args.results).resolve().parent.is_dir():
        raise TutorError("its folder does not exist; give a file in an existing folder", f"--results {args.results}")
    tolerance = Tolerance.parse(args.tolerance, args.digits or net.conventions.digits)
    qz = quiz.Quiz(net, tolerance, digits=args.digits, rounding=args.rounding, origin=origin)
    answers = quiz.read_answers(args.answers, qz) if args.answers else None
    print("\n".join(qz.intro()), flush=True)
    if answers is not None:
        for q, text, feedback in quiz.replay(qz, answers):
            print((f"\n{qz.heading(q)}\n" if qz.heading(q) else "") + f"{qz.prompt(q)}{text}\n  {feedback.message}")
    else:
        _ask(qz)
    print("\n" + "\n".join(qz.summary()), flush=True)
    if args.results:
        try:
            Path(args.results).write_text(
                json.dumps(qz.record(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        except OSError as exc:
            raise TutorError(f"cannot write the file ({exc.strerror})", f"--results {args.results}") from None
    return 0


def _ask(qz) -> None:
    """The interactive quiz: the end of input and Ctrl-C end it like 'q', with the summary."""
    shown = 0
    try:
        while (q := qz.current) is not None:
            if q.number != shown and qz.heading(q):
                print(f"\n{qz.heading(q)}")
            shown = q.number
            try:
                line = input(qz.prompt(q))
            except EOFError:
                print()
                qz.end("end of input")
                break
            print("  " + qz.respond(line).message, flush=True)
    except KeyboardInterrupt:
        print()
        qz.end("interrupted")


def cmd_worksheet(args: argparse.Namespace) -> int:
    from .teach import randomnet, worksheet
    from .teach.diagnose import Tolerance

    count = worksheet.check_count(args.count)
    options = randomnet.options(args.shape, args.activation, args.output_activation, args.loss, args.digits)
    tolerance = Tolerance.parse(args.tolerance, options.digits)
    formats = worksheet.FORMATS if args.format == "all" else (args.format,)
    if args.pdf and "tex" not in formats:
        raise TutorError("--pdf compiles the LaTeX sheets; use it with --format tex or all", "--pdf")

    def tick(k: int) -> None:
        if sys.stderr.isatty():  # a person is watching: say how far it got
            sys.stderr.write(f"\rvariant {k}/{count}" + ("\n" if k == count else ""))
            sys.stderr.flush()

    items = worksheet.variants(count, args.seed, options, tolerance)
    written = worksheet.write(args.output, items, count, formats, args.pdf, args.moodle, tick)
    print(
        f"wrote {count} variant(s), {len(written)} files, to {args.output}"
        + (f" and {args.moodle}" if args.moodle else "")
    )
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "explain": cmd_explain,
    "check": cmd_check,
    "train": cmd_train,
    "examples": cmd_examples,
    "quiz": cmd_quiz,
    "worksheet": cmd_worksheet,
    "regenerate": cmd_regenerate,
}


def main_exit() -> None:
    """Console-script entry point: exit with main()'s status."""
    sys.exit(main())
