"""The worked-solution checker: every claimed number against the tutor's own computation, with a diagnosis.

A claim is a quantity (named as in the spec's notation) and a value exactly as printed. Each claim is
first compared at its printed precision under the spec's conventions, then under the other conventions
(as-printed rounding, update order, bias updates, steps counted differently); a claim that holds under
none is wrong, and the checker looks for the most specific explanation that reproduces it: carried
forward from earlier claimed values, a different quantity of the same step, an arithmetic slip, a
rounding artefact, or none ("wrong on its own").
"""

from __future__ import annotations

import difflib
import re
import sys
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any, Mapping

from ..engine import numeric
from ..engine.steps import Walkthrough
from ..engine.symbolic import explain_step
from ..spec.errors import SpecError
from ..spec.network import MAX_FILE_BYTES, Network
from ..spec.rounding import format_fixed

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MAX_CLAIMS = 5000
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)\Z")

AGREES, CONVENTION, WRONG = "agrees", "holds under another convention", "wrong"
CARRIED, DIFFERENT, SLIP, ROUNDING, ALONE = (
    "carried forward",
    "different quantity",
    "arithmetic slip",
    "rounding artefact",
    "wrong on its own",
)


@dataclass(frozen=True)
class Claim:
    quantity: str
    printed: str
    note: str = ""
    after_steps: int | None = None
    index: int = 0

    @property
    def decimals(self) -> int:
        return printed_decimals(self.printed)

    @property
    def value(self) -> float:
        return float(self.printed)


@dataclass
class Verdict:
    claim: Claim
    status: str
    correct: float  # the value under the spec's own conventions
    convention: str = ""  # for CONVENTION: the convention it holds under
    diagnosis: str = ""  # for WRONG: one of the five kinds
    explanation: str = ""
    related: list[str] = field(default_factory=list)  # quantities the diagnosis names

    @property
    def holds(self) -> bool:
        return self.status != WRONG

    @property
    def correct_printed(self) -> str:
        d = max(self.claim.decimals, 1)
        if abs(self.correct) < 10.0**-d:  # it would read 0.000: show its digits instead
            return f"{self.correct:.3g}"
        return format_fixed(self.correct, d)


@dataclass
class Report:
    network: Network
    verdicts: list[Verdict]

    @property
    def ok(self) -> bool:
        return all(v.holds for v in self.verdicts)


# -- claims files ---------------------------------------------------------------------------------------


def load_claims(path: str | Path, keys: Mapping[str, Any] | None = None) -> list[Claim]:
    """Read a claims file: ``[[claim]]`` tables with ``quantity``, ``value`` (a string, as printed) and an
    optional ``note`` and ``after_steps``. Unknown quantity names are refused with the close matches."""
    p = Path(path)
    where = str(path)
    if p.exists() and not p.is_file():
        raise SpecError("is not a regular file; give a claims file (TOML)", where)
    try:
        if p.stat().st_size > MAX_FILE_BYTES:
            raise SpecError(f"the file is larger than {MAX_FILE_BYTES} bytes", where)
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(f"cannot read the claims file ({exc.strerror})", where) from None
    except UnicodeDecodeError:
        raise SpecError("the claims file is not UTF-8 text", where) from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"malformed TOML: {exc}", where) from None
    return parse_claims(data, where, keys)


def parse_claims(data: Mapping[str, Any], where: str, keys: Mapping[str, Any] | None = None) -> list[Claim]:
    for key in data:
        if key != "claim":
            raise SpecError("unknown key; a claims file holds [[claim]] tables", f"{where}: {key}")
    raw = data.get("claim")
    if not isinstance(raw, list) or not raw:
        raise SpecError("give at least one [[claim]] table with quantity and value", f"{where}: claim")
    if len(raw) > MAX_CLAIMS:
        raise SpecError(f"{len(raw)} claims; at most {MAX_CLAIMS}", f"{where}: claim")
    claims = []
    for i, c in enumerate(raw):
        w = f"{where}: claim[{i}]"
        if not isinstance(c, Mapping):
            raise SpecError("each [[claim]] must be a table", w)
        for key in c:
            if key not in ("quantity", "value", "note", "after_steps"):
                raise SpecError("unknown key; allowed: quantity, value, note, after_steps", f"{w}.{key}")
        q = c.get("quantity")
        if not isinstance(q, str):
            raise SpecError('give the quantity\'s name as a string, e.g. "out_h1" or "dE_total/dw5"', f"{w}.quantity")
        v = c.get("value")
        if not isinstance(v, str):
            raise SpecError(
                'give the value as a string, exactly as printed (e.g. "0.5933"), so its precision is kept', f"{w}.value"
            )
        v = v.strip()
        if not _NUMBER.match(v) or len(v) > 40:
            raise SpecError(
                f'{v[:40]!r} is not a decimal number as printed (e.g. "-0.019049119", no exponent, at most '
                "40 characters)",
                f"{w}.value",
            )
        note = c.get("note", "")
        if not isinstance(note, str) or len(note) > 500:
            raise SpecError("the note must be a string of at most 500 characters", f"{w}.note")
        steps = c.get("after_steps")
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= 1_000_000):
            raise SpecError("after_steps must be a whole number from 1 to 1000000", f"{w}.after_steps")
        if keys is not None and q not in keys:
            close = difflib.get_close_matches(q, list(keys), n=4, cutoff=0.6)
            hint = (
                f"; close matches: {', '.join(close)}"
                if close
                else "; see 'backprop-tutor explain SPEC --format json' for every name"
            )
            raise SpecError(f"unknown quantity {q!r}{hint}", f"{w}.quantity")
        if v.startswith("."):
            v = "0" + v
        elif v.startswith("-."):
            v = "-0" + v[1:]
        claims.append(Claim(q, v.lstrip("+"), note, steps, i))
    return claims


# -- checking -------------------------------------------------------------------------------------------


def printed_decimals(printed: str) -> int:
    """How many decimals a number is printed with (``"0.390"`` has 3)."""
    return len(printed.split(".")[1]) if "." in printed else 0


def agrees_as_printed(value: float, printed: str) -> bool:
    """Whether ``value`` reads as ``printed`` at the decimals ``printed`` has: 0.3895 agrees with "0.39"."""
    d = printed_decimals(printed)
    return format_fixed(value, d) == format_fixed(float(printed), d)


def _agrees(value: float, claim: Claim) -> bool:
    return agrees_as_printed(value, claim.printed)


def _conventions(net: Network, claim: Claim) -> list[tuple[str, Network]]:
    """The other conventions to try, the most common first."""
    c = net.conventions
    out: list[tuple[str, Network]] = []
    # Only the claim's own precision: a hand calculation carries what it prints. (Rounding at more
    # decimals and then at the printed ones is double rounding, which the diagnosis names as such.)
    # Nobody carries rounded figures by hand through thousands of steps: multi-step claims skip it.
    digits = [claim.decimals] if claim.after_steps is None and 1 <= claim.decimals <= 15 else []
    for d in digits:
        if not (c.rounding == "as-printed" and c.digits == d):
            out.append(
                (
                    f"as-printed rounding at {d} decimals (every shown value rounded and carried forward)",
                    net.with_conventions(rounding="as-printed", digits=d),
                )
            )
    other = "updated-first" if c.update_order == "standard" else "standard"
    what = (
        "update order updated-first (hidden deltas use the already updated output-side weights)"
        if other == "updated-first"
        else "update order standard (hidden deltas use the old weights)"
    )
    out.append((what, net.with_conventions(update_order=other)))
    out.append(
        (
            f"bias updates {'off' if net.update_biases else 'on'}",
            net.with_conventions(update_biases=not net.update_biases),
        )
    )
    for d in digits:
        out.append(
            (
                f"{what} with as-printed rounding at {d} decimals",
                net.with_conventions(update_order=other, rounding="as-printed", digits=d),
            )
        )
    return out


class _Context:
    """Caches the walk-throughs and training runs a report needs."""

    def __init__(self, net: Network):
        self.net = net
        self._walks: dict[tuple, Walkthrough] = {}
        self._train: dict[tuple, numeric.History] = {}

    def walk(self, net: Network) -> Walkthrough:
        key = (net.conventions, net.update_biases)
        if key not in self._walks:
            self._walks[key] = explain_step(net)
        return self._walks[key]

    def history(self, net: Network, steps: int) -> numeric.History:
        key = (net.conventions, net.update_biases, steps)
        if key not in self._train:
            self._train[key] = numeric.train(net, steps)
        return self._train[key]


def _value(ctx: _Context, net: Network, claim: Claim, steps_shift: int = 0) -> float | None:
    """The claimed quantity's value under ``net``'s conventions (None when it cannot be measured)."""
    if claim.after_steps is None:
        return ctx.walk(net).value(claim.quantity)
    if claim.quantity == net.notation["loss"]:
        # the loss seen during step N (before its update) comes with the same run as the loss after it
        h = ctx.history(net, claim.after_steps)
        return h.loss_before[-1] if steps_shift else h.loss_after[-1]
    n = claim.after_steps - steps_shift
    if n < 1:
        return None
    h = ctx.history(net, n)
    outs = dict(zip(net.output_layer.out_names, h.final.outs[-1]))
    if claim.quantity in outs:
        return float(outs[claim.quantity])
    params = net.parameter_values(h.W, h.b)
    return params.get(claim.quantity)


def check(net: Network, claims: list[Claim]) -> Report:
    """A verdict for every claim."""
    ctx = _Context(net)
    verdicts = []
    for claim in claims:
        verdicts.append(_check_one(ctx, net, claim, claims))
    return Report(net, verdicts)


def _check_one(ctx: _Context, net: Network, claim: Claim, claims: list[Claim]) -> Verdict:
    if claim.after_steps is not None and claim.quantity not in _multi_step_names(net):
        raise SpecError(
            f"after_steps works with the loss, the outputs and the parameters, not {claim.quantity!r}",
            f"claim[{claim.index}].after_steps",
        )
    correct = _value(ctx, net, claim)
    assert correct is not None
    if _agrees(correct, claim):
        return Verdict(claim, AGREES, correct)
    for name, other in _conventions(net, claim):
        v = _value(ctx, other, claim)
        if v is not None and _agrees(v, claim):
            return Verdict(claim, CONVENTION, correct, convention=name)
    if claim.after_steps is not None:
        for name, other in [("", net)] + _conventions(net, claim):
            v = _value(ctx, other, claim, steps_shift=1)
            if v is not None and _agrees(v, claim):
                counted = (
                    f"steps counted differently: the value seen during step {claim.after_steps}, "
                    f"before its update ({claim.after_steps - 1} updates)"
                )
                return Verdict(claim, CONVENTION, correct, convention=counted + (f"; {name}" if name else ""))
        return Verdict(claim, WRONG, correct, diagnosis=ALONE, explanation="no convention or step count reproduces it")
    walk = ctx.walk(net)
    return _diagnose(walk, claim, claims, correct)


def _multi_step_names(net: Network) -> set[str]:
    names = {net.notation["loss"], *net.output_layer.out_names}
    for layer in net.layers:
        names.update(w for row in layer.weight_labels for w in row)
        names.update(layer.bias_labels)
    return names


# -- diagnosis ------------------------------------------------------------------------------------------


def _claimed_before(claims: list[Claim], claim: Claim) -> dict[str, Claim]:
    """For each quantity, the claim a reader had in front of them at this point: the latest one before
    this claim, else the first one after it."""
    out: dict[str, Claim] = {}
    for c in claims:
        if c.after_steps is not None or c.quantity == claim.quantity:
            continue
        if c.index < claim.index or c.quantity not in out:
            out[c.quantity] = c
    return out


def _recompute(
    walk: Walkthrough,
    key: str,
    claimed: Mapping[str, Claim],
    used: dict[str, Claim],
    top: bool = True,
    memo: dict | None = None,
) -> float:
    """The quantity recomputed from the claimed values of everything it depends on (exact arithmetic)."""
    memo = {} if memo is None else memo
    if not top and key in claimed:
        used[key] = claimed[key]
        return claimed[key].value
    if key in memo:
        return memo[key]
    q = walk.quantities[key]
    if q.form is None:
        value = q.value
    else:
        value = float(q.form.fn(*[_recompute(walk, a, claimed, used, False, memo) for a in q.args]))
    memo[key] = value
    return value


def _fmt(x: float) -> str:
    return f"{x:.9g}"


def _diagnose(walk: Walkthrough, claim: Claim, claims: list[Claim], correct: float) -> Verdict:
    key = claim.quantity
    q = walk.quantities[key]
    claimed = _claimed_before(claims, claim)

    # 1. carried forward: this step recomputed from earlier claimed values gives the claim
    used: dict[str, Claim] = {}
    again = _recompute(walk, key, claimed, used)
    wrong_inputs = [c for k, c in used.items() if not _agrees(walk.value(k), c)]
    if q.form is not None and wrong_inputs and _agrees(again, claim):
        names = ", ".join(f"{c.quantity} = {c.printed}" for c in wrong_inputs)
        return Verdict(
            claim,
            WRONG,
            correct,
            diagnosis=CARRIED,
            related=[c.quantity for c in wrong_inputs],
            explanation=f"follows from the claimed {names}: recomputed from the claimed values it is "
            f"{_fmt(again)}, which reads {claim.printed}",
        )

    # 2. a different quantity of the same step: prefer the step's own inputs, then exact equality
    candidates = []
    own = set(q.args) | set(q.of_args)
    for other_key, other in walk.quantities.items():
        if other_key == key or not _agrees(other.value, claim):
            continue
        exact = format_fixed(other.value, 12) == format_fixed(claim.value, 12)
        candidates.append((other_key not in own, not exact, other_key))
    if candidates:
        _, _, other_key = min(candidates, key=lambda c: (c[0], c[1]))
        return Verdict(
            claim, WRONG, correct, diagnosis=DIFFERENT, related=[other_key], explanation=_relation(walk, key, other_key)
        )

    # 3. an arithmetic slip: the printed inputs of this step are all known, the operation on them is off
    if q.form is not None and q.kind in ("update", "gradient", "delta", "contribution", "sum", "loss", "net"):
        inputs = {}
        for a in q.args:
            if a in claimed:
                inputs[a] = claimed[a].value
            elif walk.quantities[a].form is None:
                inputs[a] = walk.value(a)
        if len(inputs) == len(q.args):
            right = float(q.form.fn(*[inputs[a] for a in q.args]))
            slip = _slip(q.kind, [inputs[a] for a in q.args], claim)
            if slip:
                printed = ", ".join(f"{a} = {_fmt(inputs[a])}" for a in q.args)
                return Verdict(
                    claim,
                    WRONG,
                    correct,
                    diagnosis=SLIP,
                    related=list(q.args),
                    explanation=f"the printed inputs {printed} give {_fmt(right)}; {claim.printed} is {slip}",
                )

    # 4. a rounding artefact: truncation, or rounding twice
    art = _rounding_artefact(correct, claim)
    if art:
        return Verdict(claim, WRONG, correct, diagnosis=ROUNDING, explanation=art)
    return Verdict(
        claim,
        WRONG,
        correct,
        diagnosis=ALONE,
        explanation="no earlier claim, other quantity, slip or rounding reproduces it",
    )


def _relation(walk: Walkthrough, key: str, other_key: str) -> str:
    q, other = walk.quantities[key], walk.quantities[other_key]
    v = _fmt(other.value)
    if other_key in q.args and q.kind == "gradient":
        return f"equals {other_key} = {v}, a single factor in place of the whole gradient"
    if other_key in q.of_args and q.wrt:
        kind = {"param": "the weight", "input": "the input", "out": "the output"}.get(other.kind, "the quantity")
        instead = ""
        if q.form is not None:
            syms = [a for a, p in zip(q.args, q.form.placeholders) if p in q.form.expr.free_symbols]
            if syms:
                instead = f" in place of {', '.join(syms)}"
        return (
            f"equals {kind} {other_key} = {v}{instead}: a symbol of the differentiated expression, not its derivative"
        )
    return f"equals {other_key} = {v}, another quantity of the same step"


def _slip(kind: str, values: list[float], claim: Claim) -> str:
    """A named slip in the step's last operation that reproduces the claim, or ''."""
    if kind == "update":
        w, eta, g = values
        for power in (10, 100, 0.1, 0.01):
            if _agrees(w - eta * g * power, claim):
                return f"{_fmt(w)} - {_fmt(eta * g * power)}: the product {_fmt(eta)}·{_fmt(g)} off by a factor of {power:g} (a decimal-place slip)"
        if _agrees(w + eta * g, claim):
            return "w + η·g: the sign of the step flipped"
        if _agrees(w - g, claim):
            return "w - g: the learning rate left out"
        return ""
    if kind in ("gradient", "delta", "contribution"):
        prod = 1.0
        for v in values:
            prod *= v
        for power in (10, 100, 0.1, 0.01):
            if _agrees(prod * power, claim):
                return f"the product off by a factor of {power:g} (a decimal-place slip)"
        if _agrees(-prod, claim):
            return "the product with its sign flipped"
        for i in range(len(values)):
            rest = 1.0
            for j, v in enumerate(values):
                if j != i:
                    rest *= v
            if len(values) > 1 and _agrees(rest, claim):
                return f"the product with factor {i + 1} left out"
        return ""
    total = sum(values)
    for i in range(len(values)):
        if len(values) > 1 and _agrees(total - 2 * values[i], claim):
            return f"the sum with the sign of term {i + 1} flipped"
    return ""


def _rounding_artefact(correct: float, claim: Claim) -> str:
    return rounding_artefact(correct, claim.printed)


def rounding_artefact(correct: float, printed: str) -> str:
    """How ``printed`` comes from ``correct`` by a rounding slip (truncated, or rounded twice), or ''."""
    d = printed_decimals(printed)
    exact = Decimal(repr(correct))
    truncated = exact.quantize(Decimal(1).scaleb(-d), rounding=ROUND_DOWN)
    if f"{truncated:.{d}f}" == format_fixed(float(printed), d):
        return f"{_fmt(correct)} truncated to {d} decimals instead of rounded"
    for extra in (1, 2):
        first = format_fixed(correct, d + extra)
        if format_fixed(float(first), d) == format_fixed(float(printed), d):
            return f"{_fmt(correct)} rounded twice: first to {d + extra} decimals ({first}), then to {d}"
    return ""


# -- output ----------------------------------------------------------------------------------------------


def report_data(report: Report) -> dict[str, Any]:
    """The report as plain data (for JSON and the templates)."""
    rows = []
    for v in report.verdicts:
        rows.append(
            {
                "index": v.claim.index,
                "quantity": v.claim.quantity,
                "printed": v.claim.printed,
                "note": v.claim.note,
                "after_steps": v.claim.after_steps,
                "verdict": v.status,
                "correct": v.correct,
                "correct_printed": v.correct_printed,
                "convention": v.convention,
                "diagnosis": v.diagnosis,
                "explanation": v.explanation,
                "related": v.related,
            }
        )
    net = report.network
    counts = {s: sum(1 for v in report.verdicts if v.status == s) for s in (AGREES, CONVENTION, WRONG)}
    return {
        "format": "backprop-tutor-check/1",
        "network": net.title,
        "conventions": net.conventions.describe(),
        "ok": report.ok,
        "counts": counts,
        "claims": rows,
    }
