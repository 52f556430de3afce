"""The command line: ``backprop-tutor`` and ``python -m tutor``. The only module that prints or exits."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings
from pathlib import Path
from typing import Callable, Sequence

from . import __version__
from .spec.errors import ComputeError, GradientError, TutorError

PROG = "backprop-tutor"

# An output file's suffix chooses its format unless --format says otherwise (then they must agree).
SUFFIX_FORMATS = {".pdf": "pdf", ".tex": "tex", ".html": "html", ".md": "md", ".txt": "text", ".json": "json"}
FORMATS = ["text", "json", "md", "tex", "html", "pdf"]
_FORMAT_HELP = "default: the suffix of -o FILE (.pdf .tex .html .md .txt .json), else text"


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
    e.add_argument("--format", "-f", choices=FORMATS, help=_FORMAT_HELP)
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
    e.add_argument(
        "--symbolic",
        action="store_true",
        help="with --self-check: the boxes ask each formula in the shown names, as quiz --symbolic does",
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
        choices=["matrix", "paths", "magnitudes", "graph"],
        default=[],
        help="also show BP1-BP4 with the matrices, every path from a parameter to the loss, or the "
        "size of the gradient layer by layer (may be repeated); 'graph' instead shows the network as its "
        "computational graph, gate by gate",
    )
    e.add_argument(
        "--of",
        metavar="NAME",
        help="a graph spec: the node whose gradient is taken (default: the spec's output); a network spec: "
        "the gradient of this output (upstream 1) instead of the loss",
    )
    e.add_argument("--upstream", type=float, metavar="G", help="a graph spec: seed the output with gradient G")
    e.add_argument("--step", type=float, metavar="ETA", help="a graph spec: also update every leaf with step ETA")
    e.add_argument("--ascent", action="store_true", help="a graph spec: step along the gradient, not against it")
    e.add_argument(
        "--ascent-on-inputs",
        action="store_true",
        help="a network spec with --of or --view graph: the update (--step) moves the inputs too, and every "
        "leaf by gradient ascent on the output (without it only the parameters move)",
    )
    e.add_argument(
        "--notation",
        choices=["spec", "layered"],
        default="spec",
        help="the spec's own names (default) or the z/a/delta notation of BP1-BP4",
    )
    _add_layout(e)

    c = sub.add_parser(
        "check",
        help="check the numbers of a published or student solution",
        description=("Compare every claimed number with the tutor's own computation; explain every wrong one."),
    )
    c.add_argument("spec", metavar="SPEC", help="a spec file (TOML) or a built-in example")
    c.add_argument("claims", metavar="CLAIMS", nargs="?", help="a claims file (TOML); a built-in example has its own")
    c.add_argument("--format", "-f", choices=["text", "md", "json"], help=_FORMAT_HELP)
    c.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of standard output")
    c.add_argument(
        "--of",
        metavar="OUTPUT",
        help="a network spec: check the loss-free mode's numbers, the gradient of this output (as explain --of); "
        "a graph spec: the node whose gradient is taken",
    )
    c.add_argument(
        "--step", type=float, metavar="ETA", help="with --of, or a graph spec: the update's step, as explain"
    )
    c.add_argument(
        "--ascent", action="store_true", help="with --of, or a graph spec: step along the gradient, as explain"
    )
    c.add_argument(
        "--ascent-on-inputs",
        action="store_true",
        help="with --of: the update moves the inputs too, by gradient ascent, as explain --of",
    )
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
    t.add_argument("--format", "-f", choices=FORMATS, help=_FORMAT_HELP)
    t.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of standard output")
    t.add_argument("--plot", metavar="FILE", help="draw the loss curve to FILE (.png or .svg; needs matplotlib)")
    _add_conventions(t)
    _add_layout(t)

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
    q.add_argument(
        "--results",
        metavar="FILE",
        help="write every question, answer, verdict and diagnosis as JSON, after every answer (to --resume from)",
    )
    q.add_argument("--resume", metavar="FILE", help="go on with the quiz of a --results file where it stopped")
    q.add_argument(
        "--symbolic",
        action="store_true",
        help="ask each factor's, delta's, gradient's and update's formula in the shown names, not its value "
        "(a network spec or --random; with --section, --layer, --neuron, --param, --tries)",
    )
    q.add_argument(
        "--section",
        action="append",
        choices=["forward", "error", "backward", "gradients", "clipping", "optimizer", "updates"],
        help="ask only this part of the step (may be repeated; clipping and optimizer: a training spec's)",
    )
    q.add_argument("--layer", type=int, metavar="L", help="ask only about layer L (1 is the first hidden layer)")
    q.add_argument("--neuron", metavar="NAME", help="ask only about this neuron (e.g. h1)")
    q.add_argument("--param", metavar="NAME", help="ask only this parameter's gradient and update (e.g. w5)")
    q.add_argument("--all", action="store_true", help="also ask the values that only copy another (dnet/dw = an input)")
    q.add_argument(
        "--tries",
        type=int,
        default=None,
        metavar="N",
        help="answers a question takes before its value is shown (default 2)",
    )
    q.add_argument(
        "--hint-cost",
        type=_share,
        default=None,
        metavar="C",
        help="the share of a question's point each hint costs, from 0 (hints are free) to 1 (default 1/3: "
        "an answer after the third hint, which shows the value, earns nothing)",
    )

    w = sub.add_parser(
        "worksheet",
        help="write student sheets with answer keys: numbered random variants (and LMS exports) or one spec's",
        description="Write N random variants, each a student sheet, an answer key and the full walk-through "
        "in Markdown and LaTeX (PDF with --pdf) or a self-check page, and optionally the same questions as "
        "Moodle XML (Cloze), GIFT or a Canvas QTI package; or, with --spec, the one sheet of a spec.",
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
    w.add_argument(
        "--moodle",
        metavar="FILE",
        help="also write the questions as Moodle XML: one Cloze question a variant (see --moodle-style)",
    )
    w.add_argument(
        "--moodle-style",
        choices=["cloze", "bank"],
        default=None,
        help="cloze: a variant is one question with every box (default); bank: one numerical question a quantity",
    )
    w.add_argument("--gift", metavar="FILE", help="also write the questions in Moodle's GIFT text format")
    w.add_argument("--qti", metavar="FILE", help="also write a QTI 1.2 package (.zip) that Canvas imports")
    w.add_argument(
        "--numbas",
        metavar="FILE",
        help="also write a Numbas exam that marks each box on the student's own earlier answers: FILE.exam its "
        "source, FILE.zip the SCORM package (needs Numbas's compiler: NUMBAS_HOME or --numbas-compiler)",
    )
    w.add_argument(
        "--numbas-compiler",
        metavar="DIR",
        help="the Numbas checkout that compiles --numbas FILE.zip (default: NUMBAS_HOME)",
    )
    w.add_argument(
        "--blanks",
        metavar="SECTIONS",
        help="which quantities become boxes: all (default) or a comma list of forward, error, backward, gradients, "
        "updates; the values before the last box are given",
    )
    w.add_argument(
        "--force", action="store_true", help="overwrite files in the folder that an earlier worksheet run did not write"
    )
    w.add_argument(
        "--spec",
        metavar="SPEC",
        help="one sheet of a spec file or built-in example instead of random variants: a network spec's student "
        "sheet, answer key and walk-through (a training spec: its first step over the batch's examples), or a "
        "graph spec's sheet.md and key.md (every node's value and gradient)",
    )

    rp = sub.add_parser(
        "report",
        help="a class report: the questions most missed and the misconceptions most named, from students' quiz "
        "results and a Moodle responses export",
        description="Aggregate students' quiz --results files and a Moodle quiz's Responses report (CSV, with "
        "Response and Right answer shown) into the questions most missed and the misconceptions most named, over "
        "the class, per question and per variant: Markdown or an HTML page with a bar chart, as the suffix of -o "
        "says.",
    )
    rp.add_argument("results", nargs="*", metavar="RESULTS", help="files written by quiz --results, one a student")
    rp.add_argument(
        "--moodle-csv",
        metavar="FILE",
        help="a Moodle quiz's Responses report downloaded as CSV, with Response and Right answer shown",
    )
    rp.add_argument(
        "--output", "-o", required=True, metavar="FILE", help="the report: FILE.md (Markdown) or FILE.html (a page)"
    )

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
    r.add_argument(
        "--root",
        metavar="DIR",
        help="the repository checkout whose worked examples to regenerate (default: the one the current folder is in)",
    )
    return p


def _add_conventions(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--rounding", choices=["exact", "as-printed"], help="exact float64, or round every shown value and carry it"
    )
    p.add_argument("--digits", type=int, metavar="D", help="decimals shown (and, as printed, carried)")
    p.add_argument(
        "--digits-of",
        metavar="KIND=D,...",
        help="as printed: kinds of quantity carried at their own decimals (net, out, loss, factor, delta, "
        "gradient, update), e.g. out=4,delta=5; the rest at --digits",
    )
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
    p.add_argument(
        "--nice",
        action="store_true",
        help="a hand-computable network: one-decimal weights and biases, inputs such as 1, -1, 0.5, no dead "
        "ReLU or saturated sigmoid",
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
        _check_paths(args)
        _choose_format(args)
        with warnings.catch_warnings(), _TermAsException():
            # Overflow inside NumPy is checked where it matters (finite values or a one-line error);
            # its warnings would only add lines to a student's terminal.
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.showwarning = _show_warning
            status = _COMMANDS[args.command](args)
        _flush_stdout()
        return status
    except _Terminated:
        print(f"{PROG}: terminated", file=sys.stderr)
        return 143
    except TutorError as exc:
        # an error found in the network itself (a step's gradient, a value out of range) names the spec it came from
        spec = getattr(locals().get("args"), "spec", None)
        place = (
            f"{spec}: "
            if spec and isinstance(exc, (GradientError, ComputeError)) and not exc.where.startswith(str(spec))
            else ""
        )
        print(f"{PROG}: error: {place}{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left (| head): what it read was complete
        _detach_stdout()
        return 0
    except _StdoutError as exc:
        print(f"{PROG}: error: standard output: cannot write ({exc.args[0]})", file=sys.stderr)
        return 2
    except OSError as exc:  # the last net: a print to a closed or full standard output, a file gone meanwhile
        place = exc.filename if isinstance(exc.filename, str) and len(exc.filename) <= 80 else "output"
        if exc.filename is None and not _stdout_works():
            _detach_stdout()
            place = "standard output"
        print(f"{PROG}: error: {place}: {exc.strerror or exc}", file=sys.stderr)
        return 2


class _Terminated(Exception):
    """SIGTERM, raised where the program is, so that every ``finally`` and ``with`` (pdflatex's temporary
    folder, a worksheet's lock) cleans up as on Ctrl-C instead of the process vanishing mid-way."""


class _TermAsException:
    def __enter__(self) -> None:
        import threading

        self._old = None
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGTERM, self._raise)

    @staticmethod
    def _raise(signum, frame) -> None:
        raise _Terminated

    def __exit__(self, *exc) -> None:
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning is one line on stderr, like an error, without the source line Python would add."""
    text = " ".join(str(message).split())
    print(f"{PROG}: warning: {text}", file=sys.stderr)


class _StdoutError(Exception):
    """Standard output failed (a full disk, a file-size limit): reported on one line, never a traceback."""


def _stdout_failed(exc: OSError) -> _StdoutError:
    _detach_stdout()
    return _StdoutError(exc.strerror or str(exc))


def _detach_stdout() -> None:
    """Point standard output at /dev/null so the interpreter's final flush does not fail a second time."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError):
        pass


def _stdout_works() -> bool:
    """Whether standard output still takes what is printed (an OSError without a file name may be its)."""
    try:
        sys.stdout.flush()
        return True
    except (OSError, ValueError):
        return False


def _flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise _stdout_failed(exc) from None


# Every option that names a file or folder, checked before any work: empty and over-long paths are one line.
_PATH_OPTIONS = {
    "spec": "SPEC",
    "claims": "CLAIMS",
    "output": "--output",
    "answers": "--answers",
    "results": "--results",
    "template_dir": "--template-dir",
    "plot": "--plot",
    "moodle": "--moodle",
    "gift": "--gift",
    "qti": "--qti",
    "numbas": "--numbas",
    "numbas_compiler": "--numbas-compiler",
    "resume": "--resume",
    "root": "--root",
    "moodle_csv": "--moodle-csv",
}


def _check_paths(args: argparse.Namespace) -> None:
    from .spec.resources import check_path

    for key, option in _PATH_OPTIONS.items():
        value = getattr(args, key, None)
        if value is not None:
            check_path(value, f"{option} {value!r}" if len(value) <= 60 else option)


def _choose_format(args: argparse.Namespace) -> None:
    """--format of explain, train and check: given, or chosen by the suffix of -o FILE, or text; a --format
    that contradicts the suffix is refused, and so is a suffix whose format the command does not write."""
    if args.command not in ("explain", "train", "check"):
        return  # worksheet's -o is a folder; quiz has no -o
    given = args.format
    suffix = Path(args.output).suffix.lower() if args.output else ""
    implied = SUFFIX_FORMATS.get(suffix)
    if given is not None and implied is not None and given != implied:
        raise TutorError(
            f"contradicts -o {args.output} (a {suffix} file is --format {implied}): give a matching suffix or "
            "leave out --format",
            f"--format {given}",
        )
    allowed = ("text", "md", "json") if args.command == "check" else FORMATS
    if given is None and implied is not None and implied not in allowed:
        raise TutorError(
            f"{args.command} writes {', '.join(allowed)}, not {suffix}: give a file ending in "
            + ", ".join(s for s, f in SUFFIX_FORMATS.items() if f in allowed),
            f"-o {args.output}",
        )
    args.chosen_format = given or implied  # None: nothing asked for a format (--self-check writes HTML then)
    args.format = args.chosen_format or "text"


def _load(args: argparse.Namespace, loss_free_ok: bool = False):
    from .spec.network import load

    if getattr(args, "digits", None) is not None and not 1 <= args.digits <= 15:
        raise TutorError(f"--digits must be from 1 to 15, got {args.digits}")
    net = load(args.spec)
    if not (loss_free_ok or getattr(args, "of", None)):
        _with_loss(net, args.spec)
    net = net.with_conventions(
        rounding=args.rounding, digits=args.digits, update_order=args.update_order, update_biases=args.update_biases
    )
    if getattr(args, "digits_of", None) is not None:
        net = _with_digits_of(net, args.digits_of)
    return net


def _with_digits_of(net, text: str):
    """``--digits-of out=4,delta=5``: kinds of quantity carried at their own decimals (as-printed only)."""
    from .spec.rounding import DIGIT_KINDS

    if net.conventions.rounding != "as-printed":
        raise TutorError("gives decimals by kind under as-printed rounding; add --rounding as-printed", "--digits-of")
    own: dict[str, int] = {}
    for part in text.split(","):
        kind, _, d = part.partition("=")
        kind = kind.strip()
        if kind not in DIGIT_KINDS or not d.strip().isdigit() or not 1 <= int(d) <= 15:
            raise TutorError(
                f"expected KIND=D pairs separated by commas, KIND one of {', '.join(DIGIT_KINDS)} and D from 1 to 15",
                "--digits-of",
            )
        own[kind] = int(d)
    return net.with_conventions(digits_of=own)


def _with_loss(net, spec: str):
    """The network, refused when its spec has no [loss] table (it is for the loss-free mode only)."""
    if net.loss_free:
        raise TutorError(
            f"{spec!r} has no [loss] table: only the gradient of one output applies (explain or check with "
            "--of OUTPUT); add a [loss] table for the rest"
        )
    return net


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
    from .spec.network import MAX_OUTPUT_BYTES

    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogateescape"))
    if size > MAX_OUTPUT_BYTES:
        raise TutorError(
            f"the {args.format} document would be {size / 1e6:.0f} MB; at most {MAX_OUTPUT_BYTES / 1e6:.0f} MB "
            "are written (more is no longer read): use a smaller network, fewer --view or another --format",
            f"--format {args.format}",
        )
    if args.output:
        from .spec.resources import write_file

        write_file(Path(args.output), data)
        return
    try:
        sys.stdout.flush()
        try:
            fd = sys.stdout.fileno()
        except (OSError, ValueError, AttributeError):  # a captured stream in tests and notebooks: no descriptor
            fd = None
        if fd is None:
            (sys.stdout.buffer if isinstance(data, bytes) else sys.stdout).write(data)  # type: ignore[arg-type]
            sys.stdout.flush()
            return
        if isinstance(data, str):
            data = data.encode(sys.stdout.encoding or "utf-8", sys.stdout.errors or "strict")
        # os.write and its count, not the buffered stream: under a file-size limit the stream reports the first
        # short write as success and drops the rest, and the output would end cut short with status 0.
        view = memoryview(data)
        while view:
            n = os.write(fd, view[: 1 << 20])
            view = view[n:]
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise _stdout_failed(exc) from None


def _refuse_overwrite(output: str | None, option: str, **inputs: str | None) -> None:
    from .spec.resources import refuse_overwrite

    refuse_overwrite(output, f"{option} {output}", {k.replace("_", " "): v for k, v in inputs.items()})


def _add_layout(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--width",
        type=int,
        metavar="COLUMNS",
        help="wrap terminal text to this many columns (default: the terminal's width; unwrapped into a file or pipe)",
    )
    p.add_argument(
        "--brief",
        action="store_true",
        help="walk through the first neuron and the first weight of each layer in full, tabulate every other value",
    )
    p.add_argument("--no-prose", dest="prose", action="store_false", help="leave out the explanations in words")


def _width(args: argparse.Namespace) -> int | None:
    """--width, else the terminal's width when text goes to a terminal (never when it goes to a file)."""
    import shutil

    if getattr(args, "width", None) is not None:
        return args.width
    if getattr(args, "output", None) or not sys.stdout.isatty():
        return None
    return max(shutil.get_terminal_size().columns, 40)


def _text_width(args: argparse.Namespace) -> int | None:
    """The width terminal text wraps to: --width or the terminal's, for the text format only."""
    return _width(args) if getattr(args, "format", "text") == "text" else None


def _render_options(args: argparse.Namespace):
    from . import render

    return render.Options(
        template_dir=getattr(args, "template_dir", None),
        notation=getattr(args, "notation", "spec"),
        width=_text_width(args),
        brief=getattr(args, "brief", False),
        prose=getattr(args, "prose", True),
    )


def cmd_explain(args: argparse.Namespace) -> int:
    from . import render
    from .engine import numeric
    from .engine.gradcheck import gradient_check
    from .engine.symbolic import explain_step
    from .engine.walks import walked_by_layers
    from .spec.kind import is_graph  # not the graph reader: most specs are networks

    if args.steps is not None and not 1 <= args.steps <= 1_000_000:
        raise TutorError(f"--steps must be from 1 to 1000000, got {args.steps}")
    if args.format == "pdf" and not args.output:
        raise TutorError("--format pdf writes a file: give -o FILE.pdf")
    _refuse_overwrite(args.output, "--output", SPEC=args.spec)
    if args.interactive and args.format != "html":
        raise TutorError("makes an HTML page: give -o FILE.html (or --format html)", "--interactive")
    if args.self_check and args.chosen_format not in (None, "html"):
        raise TutorError(
            f"writes an HTML page, not {args.format}: give -o FILE.html (or --format html)", "--self-check"
        )
    if args.symbolic and not args.self_check:
        raise TutorError("is a mode of the self-check page: give --self-check too", "--symbolic")
    if args.symbolic and is_graph(args.spec):
        raise TutorError("formulas are asked of a network spec; a graph spec's self-check asks values", "--symbolic")
    if args.symbolic and args.rounding is not None:
        raise TutorError("asks formulas, which no rounding applies to: leave out --rounding", "--symbolic")
    if is_graph(args.spec):
        return _explain_graph(args)
    if args.self_check and (args.interactive or args.steps or args.view or args.forward_only):
        raise TutorError(
            "asks the whole step: leave out --interactive, --steps, --view and --forward-only",
            "--self-check",
        )
    net = _load(args)
    if args.self_check and walked_by_layers(net):  # the quiz's walk by layers, graded by the one grader
        from .teach import quiz, selfcheck

        _write(args, selfcheck.page(quiz.Quiz(net, rounding=args.rounding, origin={"spec": args.spec})))
        return 0
    if walked_by_layers(net):  # convolution, pooling, flatten, recurrence
        return _explain_maps(args, net)
    if "graph" in args.view or args.of is not None:
        return _network_graph(args, net)
    _refuse_large_document(args, net)
    for flag, given in (
        ("--upstream", args.upstream is not None),
        ("--step", args.step is not None),
        ("--ascent", args.ascent),
        ("--ascent-on-inputs", args.ascent_on_inputs),
    ):
        if given:
            kinds = "a network spec" if flag == "--ascent-on-inputs" else "graph specs, or a network spec"
            raise TutorError(f"is for {kinds} with --of or --view graph; {args.spec!r} is given without them", flag)
    options = _render_options(args)
    if args.self_check:
        from .teach import quiz, selfcheck

        made = quiz.Quiz(net, rounding=args.rounding, origin={"spec": args.spec})
        _write(args, selfcheck.page(made, symbolic=args.symbolic))
        return 0
    if not (net.training.plain and len(net.examples) == 1) and not args.forward_only:
        if args.interactive:
            return _interactive_training(args, net, options)
        return _explain_training(args, net, options)
    if args.steps and args.format == "json":
        _refuse_large_json_history(args.steps)
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
    extra: dict = {"views": views} if views else {}
    if "magnitudes" in views and net.has_skips:  # with and without the residual connections, side by side
        extra["twin"] = ("no skips", explain_step(net.without_skips()))
    _write(args, fn(walk, check=check, history=history, options=options, **extra))
    return 0


_ONE_WALK = "a network with convolution, pooling, flatten or recurrent layers has one walk-through so far: leave it out"


def view_refusal(net, view: str) -> str:
    """Why ``explain --view VIEW`` is refused for ``net`` ("" when the view is shown): a network walked by
    layers has its one walk-through; a dense network's matrices and paths follow the weights only."""
    from .engine.views import refusal
    from .engine.walks import walked_by_layers

    return _ONE_WALK if walked_by_layers(net) else refusal(net, view)


def _explain_maps(args: argparse.Namespace, net) -> int:
    """explain for a network with feature maps or recurrence: the layer-by-layer walk (text, md, tex, html, pdf;
    json with the gradient check)."""
    from . import render
    from .engine.sym_maps import explain_maps
    from .render import maps

    if args.interactive:  # its page and script draw and animate a dense network's diagram (neurons and edges)
        raise TutorError(
            "the interactive page animates a dense network's diagram; a network with convolution, pooling, flatten "
            "or recurrent layers is asked on its self-check page (--self-check) and shown in HTML by --format html",
            "--interactive",
        )
    for flag, given in (
        ("--steps", args.steps),
        ("--view", any(view_refusal(net, v) for v in args.view)),
        ("--of", args.of is not None),
        ("--forward-only", args.forward_only),
        ("--notation", args.notation != "spec"),
        ("--no-prose", not args.prose),
        ("--width", args.width is not None),
    ):
        if given:
            raise TutorError(_ONE_WALK, flag)
    if args.format not in (*maps.FORMATS, "json"):
        raise TutorError(
            f"a network with convolution, pooling, flatten or recurrent layers is written as {', '.join(maps.FORMATS)} "
            f"so far, not {args.format}",
            "--format",
        )
    if not (net.training.plain and len(net.examples) == 1):
        raise TutorError(
            "a network with convolution, pooling, flatten or recurrent layers is walked through for one example's "
            "plain gradient-descent step so far",
            args.spec,
        )
    if args.format == "json":  # every quantity under its key, as for a dense step (what the quiz asks)
        from .engine.gradcheck import gradient_check

        walk = explain_maps(net)
        check = gradient_check(net, walk=walk) if args.check else None  # type: ignore[arg-type]
        _write(args, render.render_json(walk, check=check))  # type: ignore[arg-type]
        return 0
    _write(args, maps.render(explain_maps(net), args.format, _render_options(args)))
    return 0


def _refuse_large_document(args: argparse.Namespace, net) -> None:
    """An HTML page or a PDF of a whole walk-through past its parameter limit is refused before any work (its
    size and time follow from the network); --brief, which tabulates, and the other formats are not limited."""
    from .spec.network import MAX_HTML_PARAMETERS, MAX_PDF_PARAMETERS, MAX_VIEW_PARAMETERS

    views = [v for v in getattr(args, "view", []) if v != "graph"]
    if views and net.parameter_count > MAX_VIEW_PARAMETERS:
        raise TutorError(
            f"the network has {net.parameter_count} parameters; the views show every weight again, and take at "
            f"most {MAX_VIEW_PARAMETERS:,} (beyond, the document takes minutes): leave out --view",
            f"--view {views[0]}",
        )
    html = args.format == "html" or getattr(args, "self_check", False) or getattr(args, "interactive", False)
    limit = MAX_HTML_PARAMETERS if html else MAX_PDF_PARAMETERS if args.format == "pdf" else None
    if limit is None or getattr(args, "brief", False) or net.parameter_count <= limit:
        return
    kind = "an HTML page" if html else "a PDF"
    raise TutorError(
        f"the network has {net.parameter_count} parameters; {kind} of the whole walk-through takes at most "
        f"{limit:,} (beyond, it would pass 50 MB or take minutes): give --brief, or --format text, md, tex or json",
        f"--format {args.format}",
    )


def _refuse_large_json_history(steps: int) -> None:
    """explain --steps -f json lists every step: a document past the output limit is known before training."""
    from .render.walkthrough import json_history_bytes
    from .spec.network import MAX_OUTPUT_BYTES

    need = json_history_bytes(steps)
    if need > MAX_OUTPUT_BYTES:
        most = max(n for n in range(1, steps, max(1, steps // 1000)) if json_history_bytes(n) <= MAX_OUTPUT_BYTES)
        raise TutorError(
            f"the JSON document lists every step: {steps} steps take at least {need / 1e6:.0f} MB, and at most "
            f"{MAX_OUTPUT_BYTES / 1e6:.0f} MB are written; give about {most} steps or fewer, or --format text "
            "(which shows chosen steps)",
            "--steps",
        )


def _network_graph(args: argparse.Namespace, net) -> int:
    """A network spec as its computational graph (--view graph), or the gradient of one output (--of)."""
    from .engine.graph import explain_graph
    from .engine.symbolic import explain_step
    from .render import Options
    from .render.graph import render

    if set(args.view) - {"graph"}:
        raise TutorError("--view graph is a document of its own: give it without the other views")
    g = _network_graph_spec(args, net)
    walk = explain_graph(g)
    compare = None
    if args.of is None and args.upstream is None:
        step = explain_step(net)
        grads = walk.gradients()
        compare = [
            (net.layers[nb.layer].net_names[k], grads[net.layers[nb.layer].net_names[k]], step.value(nb.delta))
            for row in step.backward
            for k, nb in enumerate(row)
            if net.layers[nb.layer].activation == "sigmoid"
        ]
    options = Options(template_dir=args.template_dir, digits=args.digits, width=_text_width(args))
    _write(args, render(walk, args.format, options, compare))
    return 0


def _network_graph_spec(args: argparse.Namespace, net):
    """A network spec's computational graph as explain --view graph / --of and check --of use it: its update
    (--step) moves the parameters only; with --ascent-on-inputs the inputs too, all by gradient ascent."""
    from .engine.training import bias_params
    from .engine.walks import walked_by_layers
    from .spec import graph as graphspec

    if walked_by_layers(net):  # check --of reaches here; its labels (net_c1_1.1) are no graph nodes
        raise TutorError(_ONE_WALK, "--of" if args.of is not None else "--view")
    if not (net.training.plain and len(net.examples) == 1):
        raise TutorError("--view graph and --of show one plain step on one example; this spec trains otherwise")
    if args.ascent_on_inputs and args.step is None:
        raise TutorError("moves the inputs by a step: give --step ETA with it", "--ascent-on-inputs")
    moving = tuple(net.parameter_values([l.weights for l in net.layers], bias_params(net)))
    if args.ascent_on_inputs:  # every leaf but the targets moves up the output, as a hacker's guide does it
        moving, direction = moving + tuple(net.input_names), "ascent"
    else:
        direction = "ascent" if args.ascent else None
    g = graphspec.from_network(net, output=args.of)
    return g.with_options(upstream=getattr(args, "upstream", None), step=args.step, direction=direction, moving=moving)


def _explain_graph(args: argparse.Namespace) -> int:
    """explain for a graph spec: forward, backward edge by edge, the check and the optional update."""
    from .engine.graph import explain_graph
    from .render import Options
    from .render.graph import render
    from .spec import graph as graphspec

    network_only = {
        "--steps": args.steps is not None,
        "--forward-only": args.forward_only,
        "--no-check": not args.check,
        "--view": bool(args.view),
        "--rounding": args.rounding is not None,
        "--digits-of": args.digits_of is not None,
        "--update-order": args.update_order is not None,
        "--update-biases": args.update_biases is not None,
        "--notation": args.notation != "spec",
        "--ascent-on-inputs": args.ascent_on_inputs,
        # the graph documents have no brief or prose-free variant
        "--brief": args.brief,
        "--no-prose": not args.prose,
    }
    for flag, given in network_only.items():
        if given:
            raise TutorError(f"{flag} is for network specs; {args.spec!r} is a graph spec")
    if args.digits is not None and not 1 <= args.digits <= 15:
        raise TutorError(f"--digits must be from 1 to 15, got {args.digits}")
    g = graphspec.load(args.spec).with_options(
        output=args.of, upstream=args.upstream, step=args.step, direction="ascent" if args.ascent else None
    )
    if args.self_check and args.interactive:
        raise TutorError("asks the whole graph: leave out --interactive", "--self-check")
    if args.self_check:  # the quiz's questions as answer boxes, graded by the one grading core
        from .teach import quiz, selfcheck

        _write(args, selfcheck.page(quiz.Quiz(g, digits=args.digits, origin={"spec": args.spec})))
        return 0
    options = Options(template_dir=args.template_dir, digits=args.digits, width=_text_width(args))
    if args.interactive:  # step through the calculations, as a network's page
        from .render.graph import render_interactive

        _write(args, render_interactive(explain_graph(g), options))
        return 0
    _write(args, render(explain_graph(g), args.format, options))
    return 0


# the convention options (_add_conventions) by their dest: network specs only
_CONVENTIONS = {
    "rounding": "--rounding",
    "digits": "--digits",
    "digits_of": "--digits-of",
    "update_order": "--update-order",
    "update_biases": "--update-biases/--no-update-biases",
}


def _refuse_for_graph(args: argparse.Namespace, options: dict[str, str]) -> None:
    """Exit 2 when one of ``options`` (dest: flag) was given for a graph spec: each defaults to None, or to
    False for a plain switch (update_biases is None unless --update-biases or --no-update-biases is given)."""
    for dest, flag in options.items():
        value = getattr(args, dest, None)
        if value is not None and (value is not False or dest == "update_biases"):
            raise TutorError(f"is for network specs; {args.spec!r} is a graph spec", flag)


def cmd_check(args: argparse.Namespace) -> int:
    from .render.check import render_check
    from .spec import graph as graphspec
    from .spec.resources import example_claims
    from .teach import checker

    if graphspec.is_graph(args.spec):
        from .teach import graphcheck

        _refuse_for_graph(args, _CONVENTIONS)
        if args.ascent_on_inputs:  # a graph has no inputs apart from its leaves: every leaf moves already
            raise TutorError(f"is for network specs; {args.spec!r} is a graph spec", "--ascent-on-inputs")
        claims_path = args.claims or example_claims(args.spec)
        if claims_path is None:
            raise TutorError(f"give a claims file: {args.spec!r} is a graph spec without transcribed claims")
        _refuse_overwrite(args.output, "--output", SPEC=args.spec, CLAIMS=str(claims_path))
        # --of, --step and --ascent set the graph as explain does, so its claims are checked against that page
        graph = graphspec.load(args.spec).with_options(
            output=args.of, step=args.step, direction="ascent" if args.ascent else None
        )
        data = graphcheck.check_claims(graph, graphcheck.load_claims(claims_path), str(claims_path))
        _write(args, render_check(data, args.format))
        return 0 if data["ok"] else 1
    net = _load(args, loss_free_ok=args.of is not None)
    if args.of is not None:  # the loss-free mode: the network's graph with the chosen output
        from .teach import graphcheck

        if not args.claims:
            raise TutorError("give a claims file for the loss-free mode's numbers", "--of")
        data = graphcheck.check_claims(_network_graph_spec(args, net), graphcheck.load_claims(args.claims), args.claims)
        _write(args, render_check(data, args.format))
        return 0 if data["ok"] else 1
    for flag in ("step", "ascent", "ascent_on_inputs"):
        if getattr(args, flag):
            raise TutorError("is for the loss-free mode: give --of OUTPUT with it", "--" + flag.replace("_", "-"))
    if args.digits is not None and net.conventions.rounding != "as-printed":
        raise TutorError(
            "sets the decimals carried under --rounding as-printed; give it with that (in exact arithmetic "
            "each claim is compared at the precision it is printed with)",
            "--digits",
        )
    claims_path = args.claims or example_claims(args.spec)
    if claims_path is None:
        raise TutorError(f"give a claims file: {args.spec!r} is not a built-in example with transcribed claims")
    _refuse_overwrite(args.output, "--output", SPEC=args.spec, CLAIMS=str(claims_path))
    claims = checker.load_claims(claims_path, checker.quantity_names(net))
    report = checker.check(net, claims, progress=_progress)
    _write(args, render_check(checker.report_data(report), args.format))
    return 0 if report.ok else 1


def _interactive_training(args: argparse.Namespace, net, options) -> int:
    """explain --interactive for a one-example spec with another optimizer, regularization or clipping: the
    editable page of its first step, whose training runs the optimizer's own lines."""
    from .engine.walks import page_refusal, page_step
    from .render.interactive import render_interactive
    from .spec import rules

    why = page_refusal(net)
    if why:
        raise TutorError(why, "--interactive")
    if args.view or args.steps:
        raise TutorError("--interactive steps through the walk-through only: leave out --view and --steps")
    ps = page_step(net)
    title = f"The update by {rules.OPTIMIZERS[ps.optimizer].title}"
    page = render_interactive(
        ps.walk, options=options, extra=ps.lines, carry=ps.carry, counter=ps.counter, extra_title=title
    )
    _write(args, page)
    return 0


def _explain_training(args: argparse.Namespace, net, options) -> int:
    """explain for a spec with several examples, another optimizer, decay, regularization or dropout: the
    first training step, walked through over its batch."""
    from .render.training import documents

    if args.view:
        raise TutorError("--view shows one example's plain step; this spec trains on a batch or with another optimizer")
    _refuse_brief(args)
    for flag, given, why in (
        ("--steps", args.steps is not None, "repeats one example's plain step; use 'train SPEC --epochs N'"),
        ("--no-check", not args.check, "a training step's document has no gradient-check table to leave out"),
        *_document_layout(args),
    ):
        if given:
            raise TutorError(f"{why} (this spec trains on a batch or with another optimizer)", flag)
    fmt = _document_format(args.format)
    _write_document(args, documents((fmt,), net, 0, {1}, explain=True, options=options)[1][fmt])
    return 0


def _refuse_brief(args: argparse.Namespace) -> None:
    """A training document walks every line of its batch: --brief (one neuron and one weight a layer in full,
    the rest in tables) is for one example's plain step, and is refused rather than ignored."""
    if getattr(args, "brief", False):
        raise TutorError(
            "shortens one example's plain step; a training document walks every line of its batch: leave out --brief",
            "--brief",
        )


def _document_layout(args: argparse.Namespace) -> tuple:
    """The layout options a training document cannot honour yet: (flag, given, why); --brief is _refuse_brief's."""
    return (("--no-prose", not args.prose, "a training document has no explanations in words to leave out"),)


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
    _refuse_brief(args)
    if args.format == "pdf" and not args.output:
        raise TutorError("--format pdf writes a file: give -o FILE.pdf")
    _refuse_overwrite(args.output, "--output", SPEC=args.spec)
    _refuse_overwrite(args.plot, "--plot", SPEC=args.spec, FILE=args.output)
    for flag, given, why in _document_layout(args):
        if given:
            raise TutorError(why, flag)
    net = _load(args)
    total = args.epochs * len(training.batches(net))
    if total > 10_000_000:
        raise TutorError(f"{total} updates is more than 10000000; train for fewer epochs")
    if args.format == "json":
        from .spec.network import MAX_OUTPUT_BYTES

        # a loss a step and a loss an epoch, each at least "0.0" on a line of its own indented by 4: known now
        need = (total + args.epochs + 2) * len("    0.0,\n")
        if need > MAX_OUTPUT_BYTES:
            raise TutorError(
                f"the JSON document lists the loss of every update: {total} updates take at least "
                f"{need / 1e6:.0f} MB, and at most {MAX_OUTPUT_BYTES / 1e6:.0f} MB are written; train for fewer "
                "epochs, or give --format text",
                "--epochs",
            )
    shown = parse_show(args.show, total)
    if shown:  # the steps walked through in full
        _refuse_large_document(args, net)
    fmt = _document_format(args.format)
    _refuse_training_by_layers(args, net, shown, fmt)
    run, texts = documents(
        (fmt,), net, args.epochs, shown, progress=_progress(total, "training step"), options=_render_options(args)
    )
    if args.plot:
        from .render.plot import loss_curve

        loss_curve(net, run, args.plot)
    _write_document(args, texts[fmt])
    return 0


def _refuse_training_by_layers(args: argparse.Namespace, net, shown, fmt: str) -> None:
    """A training document writes its shown steps and its network in a dense network's forms: a network walked
    by layers (convolution, pooling, flatten, recurrence) trains with --show none, as text or JSON."""
    from .engine.walks import walked_by_layers

    if not walked_by_layers(net):
        return
    why = "a network with convolution, pooling, flatten or recurrent layers trains with --show none as text or json"
    if shown:
        raise TutorError(
            f"the training document walks steps through dense layers' forms; {why} (explain SPEC walks its step)",
            "--show",
        )
    if fmt not in ("text", "json"):
        raise TutorError(f"the training document sets its network in dense layers' forms; {why}", "--format")


_RENDERERS = {"text": "text", "json": "json", "md": "markdown", "tex": "latex", "html": "html", "pdf": "pdf"}


def cmd_examples(args: argparse.Namespace) -> int:
    from .spec import graph as graphspec
    from .spec.network import load
    from .spec.resources import example_names

    rows = []
    for name in example_names("all"):
        if graphspec.is_graph(name):
            g = graphspec.load(name)
            rows.append((name, f"graph, {len(g.gates)} gates", f"{g.title}: {g.description}"))
        else:
            net = load(name)
            rows.append((name, "-".join(map(str, net.shape)), f"{net.title}: {net.description}"))
    name_width = max(len(r[0]) for r in rows)
    shape_width = max(len(r[1]) for r in rows)
    for name, shape, about in rows:
        # a terminal gets each description wrapped under its own column; a pipe keeps one line an example
        line = f"{name:<{name_width}}  {shape:<{shape_width}}  {about}"
        print(_hanging(line, 4))
    return 0


def _hanging(line: str, indent: int) -> str:
    """A long line wrapped to the terminal with its continuation lines indented by ``indent``; unchanged when
    the output is not a terminal."""
    import shutil
    import textwrap

    if not sys.stdout.isatty():
        return line
    width = max(shutil.get_terminal_size((100, 24)).columns - 1, indent + 30)
    if len(line) <= width:
        return line
    return textwrap.fill(line, width, subsequent_indent=" " * indent, break_on_hyphens=False)


def cmd_regenerate(args: argparse.Namespace) -> int:
    from . import handouts

    root = handouts.checkout_examples(Path(args.root) if args.root else Path.cwd())
    todo = handouts.stale(root) if args.check else handouts.regenerate(root)
    for h in todo:
        shown = h.path.relative_to(Path.cwd()) if h.path.is_relative_to(Path.cwd()) else h.path
        print(f"{'out of date' if args.check else 'wrote'}: {shown}")
    if args.check and todo:
        print(f"{len(todo)} handout(s) out of date; run '{PROG} regenerate'", file=sys.stderr)
        return 1
    return 0


def _share(text: str) -> float:
    """A share from 0 to 1, written 0.25 or 1/4."""
    import fractions

    try:
        value = float(fractions.Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(
            f"expected a share from 0 to 1 such as 0.25 or 1/3, got {text[:20]!r}"
        ) from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a share from 0 to 1, got {text[:20]!r}")
    return value


def cmd_quiz(args: argparse.Namespace) -> int:
    from .spec.network import load
    from .teach import quiz, randomnet
    from .teach.diagnose import Tolerance
    from .teach.grading import DEFAULT_HINT_COST

    shaping = {k: getattr(args, k) for k in ("shape", "activation", "output_activation", "loss")}
    randomly = args.random or args.seed is not None or args.nice or any(v is not None for v in shaping.values())
    aiming = (args.section, args.layer, args.neuron, args.param, args.all or None, args.tries, args.digits)
    aiming += (args.hint_cost,)
    if args.resume:
        if (
            args.spec
            or randomly
            or args.answers
            or any(v is not None for v in aiming)
            or args.rounding
            or args.symbolic
        ):
            raise TutorError(
                "--resume takes the network and the settings from the results file; give no SPEC, --random, "
                "--answers or settings with it",
                "--resume",
            )
        doc = quiz.load_results(args.resume)
        results = args.results or args.resume
        if args.results:
            quiz.check_results_target(args.results)
        qz = quiz.resume(doc, f"--resume {args.resume}")
        return _run_quiz(qz, results, resumed_from=args.resume)
    if bool(args.spec) == randomly:
        raise TutorError(
            "give either SPEC (a spec file or built-in example) or --random (with --seed, --shape, ...)", "quiz"
        )
    from .spec.kind import is_graph

    if args.symbolic:
        _symbolic_refusals(args, not randomly and is_graph(args.spec))
    if not randomly and is_graph(args.spec):
        from .spec import graph as graphspec

        if args.rounding:
            raise TutorError("a graph spec's values are exact; give --rounding with a network spec", "--rounding")
        if args.all:  # no graph question only copies another value: --all would change nothing
            raise TutorError("a graph spec's quiz asks every node's value and gradient already", "--all")
        net, origin = graphspec.load(args.spec), {"spec": args.spec}
        if args.digits is not None:
            randomnet.options(digits=args.digits)  # the same range as everywhere
    elif randomly:
        seed = randomnet.new_seed() if args.seed is None else args.seed
        made = randomnet.make(seed, randomnet.options(**shaping, digits=args.digits, nice=args.nice))
        net, origin = made.network, quiz.random_origin(made)
    else:
        if args.digits is not None:
            randomnet.options(digits=args.digits)
        net, origin = _with_loss(load(args.spec), args.spec), {"spec": args.spec}
    digits = args.digits or (net.conventions.digits if hasattr(net, "conventions") else net.digits)  # a graph's own
    _refuse_overwrite(args.results, "--results", SPEC=args.spec, answers=args.answers)
    if args.results:
        quiz.check_results_target(args.results)
    tolerance = Tolerance.parse(args.tolerance, digits)
    # a file has one answer a question, so each is final
    tries = 1 if args.answers else (2 if args.tries is None else args.tries)
    qz = quiz.Quiz(
        net,
        tolerance,
        digits=args.digits,
        rounding=args.rounding,
        origin=origin,
        sections=args.section,
        layer=args.layer,
        neuron=args.neuron,
        param=args.param,
        everything=args.all,
        tries=tries,
        hint_cost=DEFAULT_HINT_COST if args.hint_cost is None else args.hint_cost,
    )
    if args.symbolic:
        return _run_formulas(qz)
    answers = quiz.read_answers(args.answers, qz) if args.answers else None
    return _run_quiz(qz, args.results, answers)


def _symbolic_refusals(args: argparse.Namespace, graph: bool) -> None:
    """The options ``quiz --symbolic`` does not honour: exit 2 rather than ignore them."""
    if graph:
        raise TutorError(
            "formulas are asked of a network spec or --random; a graph spec's quiz asks values", "--symbolic"
        )
    refused = {
        "--answers": args.answers,
        "--results": args.results,
        "--rounding": args.rounding,
        "--digits": args.digits,
        "--tolerance": args.tolerance,
        "--hint-cost": args.hint_cost,
        "--all": args.all or None,
    }
    given = [k for k, v in refused.items() if v is not None]
    if given:
        raise TutorError(
            f"{given[0]} is about numeric answers; with --symbolic give a network spec or --random, and "
            "--section, --layer, --neuron, --param or --tries",
            "--symbolic",
        )


def _run_formulas(qz) -> int:
    """``quiz --symbolic``: ask the formulas, then the score."""
    from .teach.symquiz import FormulaQuiz

    fq = FormulaQuiz(qz)
    stop = _Stop()
    with stop:
        _say(_wrapped("\n".join(fq.intro())))
        if fq.current is None:
            fq.end("completed")
        else:
            _ask(fq, stop)
    _say("\n" + _wrapped("\n".join(fq.summary())))
    return 0


def _run_quiz(qz, results: str | None, answers=None, resumed_from: str | None = None) -> int:
    """Ask (or replay a file of answers), then the summary. The results file is rewritten after every answer
    and once more whatever ended the quiz (the last question, q, Ctrl-C, the terminal closing, a failed
    print): from the end of the questions on, Ctrl-C and SIGHUP only set a flag."""
    from .teach import quiz

    stop = _Stop()
    with stop:
        try:
            _say(_wrapped("\n".join(qz.intro())))
            if resumed_from:
                _say(f"Resumed from {resumed_from}: {qz.position} of {len(qz.questions)} questions done.")
            if answers is not None:
                for q, text, feedback in quiz.replay(qz, answers):
                    if stop.signal is not None:
                        qz.end("interrupted")
                        break
                    head = f"\n{qz.heading(q)}\n" if qz.heading(q) else ""
                    _say(head + f"{qz.prompt(q)}{text}\n  {feedback.message}")
            elif qz.current is not None:
                _ask(qz, stop, results)
            else:
                qz.end("completed")
        finally:
            stop.deferred = True
            if qz.current is not None:
                qz.end("interrupted")
            if results:
                quiz.save_results(results, qz)
        if stop.signal == signal.SIGHUP:
            return 129
        return _finish(qz, results)


def _graph_worksheet(args: argparse.Namespace) -> int:
    """worksheet --spec GRAPH: a student sheet and its answer key for a graph spec."""
    from .spec import graph as graphspec
    from .spec.resources import write_file
    from .teach.graphcheck import worksheet

    for flag, given in (*_spec_sheet_refusals(args), ("--pdf", args.pdf), ("--blanks", args.blanks is not None)):
        if given:
            raise TutorError(
                "a graph spec's worksheet is its sheet.md and key.md, every node's value and gradient: give "
                "--spec GRAPH with -o DIR only",
                flag,
            )
    if args.format not in ("all", "md"):
        raise TutorError("a graph spec's worksheet is Markdown (sheet.md, key.md): leave out --format", "--format")
    if args.digits is not None or args.tolerance is not None:
        raise TutorError(
            "a graph spec's worksheet shows the spec's own digits", "--digits" if args.digits else "--tolerance"
        )
    folder = Path(args.output)
    if folder.exists() and not folder.is_dir():
        raise TutorError("is not a folder", f"--output {folder}")
    files = worksheet(graphspec.load(args.spec))
    for name in files:
        if (folder / name).exists():
            raise TutorError(f"{name} exists already; choose an empty folder (nothing is overwritten)", str(folder))
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        write_file(folder / name, text)
    print(f"wrote {', '.join(files)} to {folder}")
    return 0


def _spec_sheet_refusals(args: argparse.Namespace) -> tuple:
    """The options of random variants that a spec's one sheet cannot take: (flag, given)."""
    return (
        ("--count", args.count != 1),
        ("--seed", args.seed != 1),
        ("--shape", args.shape),
        ("--activation", args.activation),
        ("--output-activation", args.output_activation),
        ("--loss", args.loss),
        ("--nice", args.nice),
        ("--moodle", args.moodle),
        ("--moodle-style", args.moodle_style is not None),
        ("--gift", args.gift),
        ("--qti", args.qti),
        ("--numbas", args.numbas),
        ("--numbas-compiler", args.numbas_compiler),
        ("--force", args.force),
    )


def _spec_worksheet(args: argparse.Namespace) -> int:
    """worksheet --spec SPEC for a network spec: its student sheet, answer key and walk-through (Markdown and
    LaTeX, --pdf compiles them) in one folder; a file there already is never overwritten."""
    from .spec.network import load
    from .spec.resources import write_file
    from .teach import randomnet, worksheet
    from .teach.diagnose import Tolerance

    for option, value in _spec_sheet_refusals(args):
        if value and option not in _EXPORTS:
            raise TutorError(
                "a spec's worksheet is the one sheet of that network: give --spec without it (allowed with "
                "--spec: --output, --format, --pdf, --blanks, --digits, --tolerance, --moodle, --gift, --qti)",
                option,
            )
    if args.moodle_style is not None and not args.moodle:
        raise TutorError("chooses the kind of Moodle XML: give it with --moodle FILE", "--moodle-style")
    net = _with_loss(load(args.spec), args.spec)
    if args.digits is not None:
        randomnet.options(digits=args.digits)  # the same range as everywhere
        net = net.with_conventions(digits=args.digits)
    tolerance = Tolerance.parse(args.tolerance, net.conventions.digits)
    v = worksheet.spec_variant(net, args.spec, tolerance, worksheet.parse_blanks(args.blanks))
    if args.format == "html":
        from .teach import quiz, selfcheck

        qz = quiz.Quiz(v.made.network, tolerance, origin={"spec": args.spec}, sections=v.blanks or None)
        files = {"selfcheck.html": selfcheck.page(qz)}
    else:
        formats = worksheet.FORMATS if args.format == "all" else (args.format,)
        if args.pdf and "tex" not in formats:
            raise TutorError("--pdf compiles the LaTeX sheets; use it with --format tex or all", "--pdf")
        files = worksheet.spec_files(v, formats)
    folder = Path(args.output)
    if folder.exists() and not folder.is_dir():
        raise TutorError("is not a folder", f"--output {folder}")
    names = list(files) + ([n.replace(".tex", ".pdf") for n in files if n.endswith(".tex")] if args.pdf else [])
    for name in names:
        if (folder / name).exists() or (folder / name).is_symlink():
            raise TutorError(f"{name} exists already; choose an empty folder (nothing is overwritten)", str(folder))
    exports = _spec_exports(args, v)  # the sheet's questions for an LMS: made and checked before anything is written
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        write_file(folder / name, text)
    written = list(files)
    if args.pdf:
        written += [p.name for p in worksheet.compile_all([folder / n for n in files if n.endswith(".tex")])]
    for path, content in exports.items():
        write_file(path, content)
    print(f"wrote {', '.join(written)} to {folder}" + "".join(f" and {p}" for p in exports))
    _say_sequential(args)
    return 0


def _say_sequential(args: argparse.Namespace) -> None:
    """A question a box gives earlier right values (GIFT, the Moodle bank), and neither GIFT nor Moodle XML sets a
    quiz's navigation: the command says what the quiz needs, beside the files it wrote."""
    sequential = [f for f in (args.gift, args.moodle if args.moodle_style == "bank" else None) if f]
    if sequential:
        from .teach.lms import SEQUENTIAL

        print(f"{' and '.join(map(str, sequential))}: {SEQUENTIAL}")


_EXPORTS = ("--moodle", "--moodle-style", "--gift", "--qti")


def _spec_exports(args: argparse.Namespace, v) -> dict[Path, str | bytes]:
    """The LMS exports of a spec's one sheet (--moodle, --gift, --qti), by path: the same questions as its boxes,
    graded by the one grader; a file there already is never overwritten."""
    from .teach import worksheet

    if v.training:  # the exports' network table gives one example's values and plain descent's update only
        for option, path in (("--moodle", args.moodle), ("--gift", args.gift), ("--qti", args.qti)):
            if path:
                raise TutorError(
                    "exports the one sheet of that network for one example's plain gradient-descent step; this spec "
                    "trains on several examples or with other settings: give its sheet without the export",
                    option,
                )
    asked = {"moodle": args.moodle_style or "cloze"} if args.moodle else {}
    asked.update({name: "" for name, path in (("gift", args.gift), ("qti", args.qti)) if path})
    share = worksheet.export_share(v, asked)
    out: dict[Path, str | bytes] = {}
    for option, path, name in (
        ("--moodle", args.moodle, "moodle"),
        ("--gift", args.gift, "gift"),
        ("--qti", args.qti, "qti"),
    ):
        if not path:
            continue
        if Path(path).exists() or Path(path).is_symlink():
            raise TutorError("exists already; choose another file (nothing is overwritten)", f"{option} {path}")
        if name == "moodle":
            from .teach.moodle import moodle_document

            out[Path(path)] = moodle_document([share["moodle"]], args.moodle_style or "cloze")
        elif name == "gift":
            from .teach.gift import gift_document

            out[Path(path)] = gift_document([share["gift"]])
        else:
            from .teach.qti import package_of

            out[Path(path)] = package_of([share["qti"]])
    return out


class _Stop:
    """Ctrl-C (SIGINT) and a closed terminal (SIGHUP) during a quiz: at the prompt they end it like 'q'; at any
    other moment they are remembered and end it after the current answer, so no answer and no record is lost."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.at_prompt = False
        self.deferred = False
        self._old: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        self.signal = signum
        if self.at_prompt and not self.deferred:
            raise KeyboardInterrupt

    def __enter__(self) -> "_Stop":
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, getattr(signal, "SIGHUP", None)):
                if sig is not None:
                    self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _say(text: str) -> None:
    print(text, flush=True)


def _wrapped(text: str) -> str:
    """Lines wrapped to the terminal's width, continuations indented under their line; unchanged when the
    output is not a terminal (a file or a pipe keeps one line a message)."""
    import shutil
    import textwrap

    if not sys.stdout.isatty():
        return text
    width = max(shutil.get_terminal_size((100, 24)).columns - 1, 40)
    out = []
    for line in text.split("\n"):
        lead = line[: len(line) - len(line.lstrip(" "))]
        if len(line) > width:
            # "b2 = 0.6" stays on one line: textwrap breaks only at ASCII spaces, so the pair's spaces are
            # held by no-break spaces while it wraps
            held = line.replace(" = ", "\xa0=\xa0")
            line = textwrap.fill(
                held, width, initial_indent="", subsequent_indent=lead + "  ", break_on_hyphens=False
            ).replace("\xa0", " ")
        out.append(line)
    return "\n".join(out)


def _finish(qz, results: str | None) -> int:
    from .teach.quiz import save_results

    if results:
        save_results(results, qz)
    print("\n" + _wrapped("\n".join(qz.summary())), flush=True)
    if results:
        print(f"Results in {results}" + ("" if qz.ended == "completed" else f"; go on with --resume {results}"))
    return 0


def _ask(qz, stop: _Stop, results: str | None = None) -> None:
    """The interactive quiz: the end of input and Ctrl-C end it like 'q', with the summary. With ``results``,
    the results file is rewritten after every answer (and once more when the quiz ends)."""
    from .teach.quiz import save_results

    shown = 0
    while (q := qz.current) is not None:
        if stop.signal is not None:
            print()
            qz.end("interrupted")
            return
        if q.number != shown:
            if qz.heading(q):
                print(f"\n{qz.heading(q)}")
            context = getattr(qz, "context", None)
            if context is not None and context(q):
                print(_wrapped(f"  {context(q)}"))
        shown = q.number
        try:
            stop.at_prompt = True
            try:
                line = input(qz.prompt(q))
            finally:
                stop.at_prompt = False
        except EOFError:
            print()
            qz.end("end of input")
            return
        except KeyboardInterrupt:
            print()
            qz.end("interrupted")
            return
        feedback = qz.respond(line)
        print(_wrapped("  " + feedback.message), flush=True)
        if results and feedback.kind in ("graded", "retry", "hint", "skipped"):
            save_results(results, qz)


def cmd_worksheet(args: argparse.Namespace) -> int:
    from .teach import randomnet, worksheet
    from .teach.diagnose import Tolerance

    if args.spec:
        from .spec import graph as graphspec

        return _graph_worksheet(args) if graphspec.is_graph(args.spec) else _spec_worksheet(args)
    if args.moodle_style is not None and not args.moodle:
        raise TutorError("chooses the kind of Moodle XML: give it with --moodle FILE", "--moodle-style")
    numbas_home = None
    if args.numbas_compiler is not None and not (args.numbas or "").lower().endswith(".zip"):
        raise TutorError("compiles the Numbas exam's SCORM zip: give it with --numbas FILE.zip", "--numbas-compiler")
    if args.numbas:
        from .teach import numbas

        numbas_home = numbas.compiler(args.numbas_compiler)
        numbas.check_target(args.numbas, numbas_home)
    count = worksheet.check_count(args.count)
    options = randomnet.options(
        args.shape, args.activation, args.output_activation, args.loss, args.digits, nice=args.nice
    )
    tolerance = Tolerance.parse(args.tolerance, options.digits)
    blanks = worksheet.parse_blanks(args.blanks)
    formats = worksheet.FORMATS if args.format == "all" else (args.format,)
    if args.pdf and "tex" not in formats:
        raise TutorError("--pdf compiles the LaTeX sheets; use it with --format tex or all", "--pdf")

    def tick(k: int) -> None:
        if sys.stderr.isatty():  # a person is watching: say how far it got
            sys.stderr.write(f"\rvariant {k}/{count}" + ("\n" if k == count else ""))
            sys.stderr.flush()

    from .teach import variantcode

    # students see a code keyed with the lecturer's secret, never the seed (which regenerates the key)
    secret = (variantcode.read_secret(args.output) if args.output else None) or variantcode.new_secret()
    items = worksheet.Variants(count, args.seed, options, tolerance, blanks, secret=secret)
    written = worksheet.write(
        args.output,
        items,
        count,
        formats,
        args.pdf,
        args.moodle,
        tick,
        moodle_style=args.moodle_style or "cloze",
        gift=args.gift,
        qti=args.qti,
        numbas=args.numbas,
        numbas_compiler=numbas_home,
        force=args.force,
    )
    extra = [f for f in (args.moodle, args.gift, args.qti) if f] + (
        [numbas.written(args.numbas)] if args.numbas else []
    )
    print(f"wrote {count} variant(s), {len(written)} files, to {args.output}" + "".join(f" and {f}" for f in extra))
    if any(p.parent.parent.name == worksheet.STUDENTS for p in written):
        print(f"the students' sheets alone, to hand out: {Path(args.output) / worksheet.STUDENTS}")
    _say_sequential(args)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .spec.resources import check_path, write_file
    from .teach import report

    fmt = report.format_of(args.output)
    for path in args.results:
        check_path(path, f"RESULTS {path!r}" if len(path) <= 60 else "RESULTS")
    if not args.results and args.moodle_csv is None:
        raise TutorError("give students' quiz --results files, a --moodle-csv export, or both", "report")
    _refuse_overwrite(args.output, "-o", moodle_csv=args.moodle_csv, **{f"RESULTS {p}": p for p in args.results[:1000]})
    built = report.build(args.results, args.moodle_csv)
    write_file(args.output, report.render(built, fmt), f"-o {args.output}")
    print(
        f"wrote {args.output}: {built.students} student(s), {built.total.answers} answers, {built.total.missed} missed"
    )
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "explain": cmd_explain,
    "check": cmd_check,
    "train": cmd_train,
    "examples": cmd_examples,
    "quiz": cmd_quiz,
    "worksheet": cmd_worksheet,
    "report": cmd_report,
    "regenerate": cmd_regenerate,
}
