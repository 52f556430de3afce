"""The command line: ``backprop-tutor`` and ``python -m tutor``. The only module that prints or exits."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

from . import __version__
from .errors import TutorError

PROG = "backprop-tutor"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and an exception, not a SystemExit with a usage dump."""

    def error(self, message: str):  # type: ignore[override]
        raise TutorError(f"{message} (see '{self.prog} --help')")


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Backpropagation, every calculation shown.")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    e = sub.add_parser("explain", help="walk through one training step of a network", description=(
        "Walk through one training step: forward pass, error, every chain-rule factor, every update."))
    e.add_argument("spec", metavar="SPEC", help="a spec file (TOML) or a built-in example: see 'examples'")
    e.add_argument("--format", "-f", default="text", choices=["text", "json", "md", "tex", "html", "pdf"])
    e.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of standard output")
    _add_conventions(e)
    e.add_argument("--steps", type=int, metavar="N", help="also repeat the step N times and report the loss before and after each")
    e.add_argument("--forward-only", action="store_true", help="show the forward pass and the error only")
    e.add_argument("--no-check", dest="check", action="store_false", help="leave out the gradient-check table")
    e.add_argument("--template-dir", metavar="DIR", help="templates that override the built-in ones block by block")
    e.add_argument("--notation", choices=["spec", "layered"], default="spec",
                   help="the spec's own names (default) or the z/a/delta notation of BP1-BP4")  # fmt: skip

    c = sub.add_parser("check", help="check the numbers of a published or student solution", description=(
        "Compare every claimed number with the tutor's own computation; explain every wrong one."))
    c.add_argument("spec", metavar="SPEC", help="a spec file (TOML) or a built-in example")
    c.add_argument("claims", metavar="CLAIMS", nargs="?", help="a claims file (TOML); a built-in example has its own")
    c.add_argument("--format", "-f", default="text", choices=["text", "md", "json"])
    c.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of standard output")
    _add_conventions(c)

    sub.add_parser("examples", help="list the built-in examples")
    return p


def _add_conventions(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rounding", choices=["exact", "as-printed"], help="exact float64, or round every shown value and carry it")
    p.add_argument("--digits", type=int, metavar="D", help="decimals shown (and, as printed, carried)")
    p.add_argument("--update-order", choices=["standard", "updated-first"],
                   help="hidden deltas with the old weights (standard) or the already updated ones")  # fmt: skip
    g = p.add_mutually_exclusive_group()
    g.add_argument("--update-biases", dest="update_biases", action="store_true", default=None)
    g.add_argument("--no-update-biases", dest="update_biases", action="store_false")


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
        return _COMMANDS[args.command](args)
    except TutorError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _load(args: argparse.Namespace):
    from .spec import load

    net = load(args.spec)
    return net.with_conventions(rounding=args.rounding, digits=args.digits, update_order=args.update_order,
                                update_biases=args.update_biases)  # fmt: skip


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
        path = Path(args.output)
        try:
            if isinstance(data, bytes):
                path.write_bytes(data)
            else:
                path.write_text(data, encoding="utf-8")
        except OSError as exc:
            raise TutorError(f"cannot write the file ({exc.strerror})", str(path)) from None
    elif isinstance(data, bytes):
        sys.stdout.buffer.write(data)
    else:
        sys.stdout.write(data)


def cmd_explain(args: argparse.Namespace) -> int:
    from . import numeric, render
    from .gradcheck import gradient_check
    from .symbolic import explain_step

    if args.steps is not None and not 1 <= args.steps <= 1_000_000:
        raise TutorError(f"--steps must be from 1 to 1000000, got {args.steps}")
    if args.digits is not None and not 0 <= args.digits <= 15:
        raise TutorError(f"--digits must be from 0 to 15, got {args.digits}")
    if args.format == "pdf" and not args.output:
        raise TutorError("--format pdf writes a file: give -o FILE.pdf")
    net = _load(args)
    render.configure(template_dir=args.template_dir, notation=args.notation)
    walk = explain_step(net, forward_only=args.forward_only)
    check = gradient_check(net) if (args.check and not args.forward_only) else None
    history = None
    if args.steps:
        history = numeric.train(net, args.steps, progress=_progress(args.steps, "training step"))
    fn = getattr(render, "render_" + _RENDERERS[args.format])
    _write(args, fn(walk, check=check, history=history))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from . import checker
    from .checkreport import render_check
    from .resources import example_claims
    from .symbolic import explain_step

    net = _load(args)
    claims_path = args.claims or example_claims(args.spec)
    if claims_path is None:
        raise TutorError(f"give a claims file: {args.spec!r} is not a built-in example with transcribed claims")
    walk = explain_step(net)
    report = checker.check(net, checker.load_claims(claims_path, walk.quantities))
    _write(args, render_check(checker.report_data(report), args.format))
    return 0 if report.ok else 1


_RENDERERS = {"text": "text", "json": "json", "md": "markdown", "tex": "latex", "html": "html", "pdf": "pdf"}


def cmd_examples(args: argparse.Namespace) -> int:
    from .resources import example_names
    from .spec import load

    for name in example_names():
        net = load(name)
        shape = "-".join(map(str, net.shape))
        print(f"{name:<12} {shape:<8} {net.title}: {net.description}")
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "explain": cmd_explain, "check": cmd_check, "examples": cmd_examples,
}  # fmt: skip


def main_exit() -> None:
    """Console-script entry point: exit with main()'s status."""
    sys.exit(main())
