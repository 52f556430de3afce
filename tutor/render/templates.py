"""The Jinja2 side of rendering: the template environment, the escaping filters and MathML for HTML.

Templates live in the top-level ``templates/`` folder (shipped inside the wheel) and can be overridden block
by block from a template folder. Every environment uses StrictUndefined; HTML autoescapes.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..spec.errors import TutorError
from ..spec.rounding import format_fixed
from .options import DEFAULT, Options

# -- escaping of the spec author's text, per output format ----------------------------------------------------

_MD_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "$": "&#36;"}
_MD_PUNCT = set("\\`*_[]{}#|~^!")
_MD_TABLE = str.maketrans({**{c: "\\" + c for c in _MD_PUNCT}, **_MD_HTML})
_MD_LINE_START = re.compile(r"^(?:([-+=])|(\d+)([.)]))")


@lru_cache(maxsize=65536)
def md_escape(text: str) -> str:
    r"""Text for a Markdown line: no HTML, no math, no emphasis, links, lists or headings of its own.

    '$' becomes an entity, not '\$': GitHub would still pair an escaped dollar with a math delimiter.

    >>> print(md_escape("- a_b <i>$5</i> {{ 7*7 }}"), md_escape("1. x"))
    \- a\_b &lt;i&gt;&#36;5&lt;/i&gt; \{\{ 7\*7 \}\} 1\. x
    """
    flat = " ".join(text.split()) if "\n" in text else text.strip()
    out = flat.translate(_MD_TABLE)
    return _MD_LINE_START.sub(lambda m: "\\" + m.group(1) if m.group(1) else m.group(2) + "\\" + m.group(3), out)


def tex_escape_text(text: str) -> str:
    """The spec author's text for LaTeX: every special character made literal."""
    from .notation import tex_escape

    return tex_escape(text)


# -- MathML for HTML -------------------------------------------------------------------------------------


@lru_cache(maxsize=65536)
def mathml(tex: str, display: bool = False):
    """LaTeX math (web dialect) as MathML markup; each distinct string is converted once, and each shape of
    string (its numbers aside) is given to latex2mathml once."""
    from markupsafe import Markup

    # latex2mathml builds the tree with ElementTree, which escapes every text node: the output is safe HTML.
    return Markup(_filled(r"\displaystyle " + tex if display else tex))


# A number of the LaTeX, and its stand-in in a formula's shape: the k-th number becomes 9 and k in five digits,
# a number that no shape holds otherwise (every digit of a shape is a stand-in's). In the markup a stand-in is
# an <mn> of its own, with the sign _tokens joins to it.
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_STAND_IN = re.compile(r"<mn>(9\d{5})</mn>")
_SIGNED_STAND_IN = re.compile(r"(?<=<mn>)((?:&#x02212;)?)(9\d{5})(?=</mn>)")
_MAX_STAND_INS = 100_000


def _filled(tex: str) -> str:
    """_tokens of latex2mathml's markup of ``tex``, from that of its shape with its numbers put back.

    Every neuron writes the same formula with other numbers, so the shapes are few. The markup of the shape is
    used only where each stand-in came out whole, once, as an <mn> of its own (latex2mathml splits digits
    after an unbraced ^ or _, and keeps those of \\text in its text); otherwise the string itself is converted.
    _tokens looks at tags only, never at a number's digits, so it is applied to the shape once.
    """
    numbers: list[str] = []

    def stand_in(m: re.Match) -> str:
        numbers.append(m.group())
        return str(900_000 + len(numbers) - 1)

    shape = _NUMBER.sub(stand_in, tex)
    markup = _shape_markup(shape, len(numbers)) if 0 < len(numbers) < _MAX_STAND_INS else None
    if markup is None:
        return _tokens(_convert(tex))
    return _SIGNED_STAND_IN.sub(lambda m: m.group(1) + numbers[int(m.group(2)) - 900_000], markup)


@lru_cache(maxsize=4096)
def _shape_markup(shape: str, count: int) -> str | None:
    """_tokens of the markup of a shape, or None where a stand-in did not come out as one <mn> of its own,
    exactly once."""
    markup = _convert(shape)
    found = _STAND_IN.findall(markup)
    if sorted(found) != [str(900_000 + k) for k in range(count)] or any(markup.count(f) != 1 for f in found):
        return None
    return _tokens(markup)


def _convert(tex: str) -> str:
    try:
        from latex2mathml.converter import convert
    except ImportError:
        raise TutorError("the HTML format needs latex2mathml; install it with: pip install latex2mathml") from None
    return convert(tex, display="inline")


# A minus sign where no operand precedes it (after an operator, an opening fence or at the start of a row) is
# the sign of the number after it: one token, not a binary operator with its spacing.
_UNARY_MINUS = re.compile(r"((?:<mrow>|<mtd>|<math[^>]*>|<mstyle[^>]*>|<mo[^>]*>[^<]*</mo>))<mo>&#x02212;</mo><mn>")
# latex2mathml leaves a bmatrix's brackets at their text size; stretchy fences grow with the matrix.
_OPEN = re.compile(r"<mo>&#x0005B;</mo>(?=<mtable>)")
_CLOSE = re.compile(r"(?<=</mtable>)<mo>&#x0005D;</mo>")


# A function name (ln, exp, log) is set upright and glued to what follows: "ln oₖ" needs the space a reader
# sees in print (a thin space, as LaTeX sets it); a bracket after the name needs none.
_FUNCTION_NAME = re.compile(r"(<mi>(?:ln|log|exp|sin|cos|tanh|max|min)</mi>)(?=<m(?:i|sub|n|sup)\b)")


def _tokens(markup: str) -> str:
    """latex2mathml's output with each negative number one <mn> and a matrix's brackets stretching.

    >>> print(_tokens("<mrow><mo>&#x0003D;</mo><mo>&#x02212;</mo><mn>0.2</mn><mo>&#x02212;</mo><mn>1</mn></mrow>"))
    <mrow><mo>&#x0003D;</mo><mn>&#x02212;0.2</mn><mo>&#x02212;</mo><mn>1</mn></mrow>
    """
    out = _UNARY_MINUS.sub(r"\1<mn>&#x02212;", markup)
    out = _UNARY_MINUS.sub(r"\1<mn>&#x02212;", out)  # a second pass: "= −(−0.2)" has two in a row
    out = _FUNCTION_NAME.sub(r'\1<mspace width="0.1667em"></mspace>', out)
    out = _OPEN.sub('<mo stretchy="true" fence="true" form="prefix">&#x0005B;</mo>', out)
    return _CLOSE.sub('<mo stretchy="true" fence="true" form="postfix">&#x0005D;</mo>', out)


# -- Jinja2 -------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _environment_class():
    """Jinja2's Environment, reading a dict's keys first: the templates read nearly every value from a dict by
    attribute (``l.label``), which Jinja2 asks of ``getattr`` first, raising and catching an AttributeError
    for each before it asks for the item: about a thousand a worksheet variant. A dict's methods (items,
    values) are still found where no key has their name, as before."""
    import jinja2

    class _Environment(jinja2.Environment):
        def getattr(self, obj, attribute):
            if type(obj) is dict:
                try:
                    return obj[attribute]
                except KeyError:
                    pass
            return jinja2.Environment.getattr(self, obj, attribute)

    return _Environment


def shipped_template(name: str):
    """A template of the shipped set, without autoescaping: compiled once a process, and kept between runs in
    the bytecode cache (see ``_environment``)."""
    return _environment(False, None).get_template(name)


@lru_cache(maxsize=8)
def _environment(autoescape: bool, template_dir: Path | None):
    import jinja2

    from ..spec.resources import data_dir

    builtin = jinja2.FileSystemLoader(str(data_dir("templates")))
    loaders: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        loaders.append(jinja2.FileSystemLoader(str(template_dir)))
    loaders.append(builtin)
    # "builtin/..." always names the shipped template, so an override can extend it block by block.
    loader = jinja2.PrefixLoader({"builtin": builtin}, delimiter="/")
    env = _environment_class()(
        loader=jinja2.ChoiceLoader([loader, *loaders]),
        # only the shipped templates are cached: a user's template folder, of any size, is compiled afresh
        bytecode_cache=_bytecode_cache() if template_dir is None else None,
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fixed"] = format_fixed
    env.filters["mathml"] = mathml
    env.filters["tex"] = tex_escape_text
    env.filters["md_escape"] = md_escape
    return env


# The compiled shipped templates take about 1 MB; the cache never holds more than this.
MAX_CACHE_BYTES = 16 * 1024 * 1024


def prune(folder: Path, limit: int) -> None:
    """Remove the least recently written cache files until the folder holds at most ``limit`` bytes."""
    entries = []
    for f in folder.glob("__jinja2_*.cache"):
        try:
            st = f.stat()
        except OSError:
            continue
        entries.append((st.st_mtime_ns, st.st_size, f))
    total = sum(size for _, size, _ in entries)
    for _, size, f in sorted(entries, key=lambda e: (e[0], e[2].name)):
        if total <= limit:
            break
        try:
            f.unlink()
            total -= size
        except OSError:
            pass


def _bytecode_cache():
    """Compiled templates kept between runs, which saves a run most of its template time.

    Jinja2 keys each entry by the template's name and checks its source, so an edited or overriding
    template is compiled afresh; a cache folder that cannot be written only costs the compile.
    """
    import jinja2

    class _Cache(jinja2.FileSystemBytecodeCache):
        def load_bytecode(self, bucket):
            try:
                super().load_bytecode(bucket)
            except (OSError, EOFError, ValueError):
                bucket.reset()

        def dump_bytecode(self, bucket):
            try:
                super().dump_bytecode(bucket)
                prune(Path(self.directory), MAX_CACHE_BYTES)
            except OSError:
                pass

    if os.environ.get("BACKPROP_TUTOR_NO_CACHE"):
        return None
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(root) / "backprop-tutor" / f"jinja2-{jinja2.__version__}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return _Cache(str(folder))


def render_template(
    template: str, context: dict[str, Any], *, autoescape: bool = False, options: Options = DEFAULT
) -> str:
    """Render one template of the shipped set (or of ``options.template_dir``) with ``context``."""
    import jinja2

    try:
        env = _environment(autoescape, options.template_dir)
        compiled = env.get_template(template)
        if options.template_dir is not None:
            _warn_unknown_blocks(str(options.template_dir), template, tuple(compiled.blocks))
        return compiled.render(**context)
    except jinja2.TemplateNotFound as exc:
        raise TutorError(f"template {exc.name!r} not found in the template folders") from None
    except jinja2.TemplateSyntaxError as exc:
        raise TutorError(
            f"template syntax error at line {exc.lineno}: {exc.message}", exc.filename or template
        ) from None
    except jinja2.UndefinedError as exc:
        raise TutorError(f"template uses an undefined value: {exc.message}", template) from None
    except TutorError:
        raise
    except UnicodeDecodeError:
        raise TutorError("a template is not UTF-8 text", template) from None
    except Exception as exc:  # an override may fail in any way at render time: it is the user's input
        raise TutorError(f"the template failed: {type(exc).__name__}: {exc}", template) from None


_BLOCK = re.compile(r"{%-?\s*block\s+(\w+)")
_EXTENDS = re.compile(r"""{%-?\s*extends\s+["']([^"']+)["']""")


@lru_cache(maxsize=64)
def _warn_unknown_blocks(template_dir: str, template: str, blocks: tuple[str, ...]) -> None:
    """An override's block that the shipped template does not have is ignored by Jinja2: say so (a misspelt
    block name would otherwise leave the lecturer wondering why nothing changed)."""
    import warnings

    from ..spec.resources import data_dir

    override = Path(template_dir) / template
    if not override.is_file():
        return
    known: set[str] = set()
    names = [template]
    seen: set[str] = set()
    while names:
        name = names.pop().removeprefix("builtin/")
        if name in seen:
            continue
        seen.add(name)
        try:
            text = (data_dir("templates") / name).read_text(encoding="utf-8")
        except OSError:
            continue
        known.update(_BLOCK.findall(text))
        names += _EXTENDS.findall(text)
    unknown = sorted(set(blocks) - known)
    if known and unknown:
        import difflib

        hints = []
        for b in unknown:
            close = difflib.get_close_matches(b, sorted(known), n=1)
            hints.append(f"{b!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        warnings.warn(
            TemplateWarning(
                f"{override}: block {', '.join(hints)} is not a block of the built-in {template} and is ignored; "
                f"its blocks: {', '.join(sorted(known))}"
            ),
            stacklevel=2,
        )


class TemplateWarning(UserWarning):
    """An override that cannot take effect (a block name the shipped template does not have)."""
