"""A computational graph's claimed numbers checked, and its worksheet: the graph side of ``check`` and
``worksheet --spec``. Claims use the graph's stable names: a node's name for its value, ``grad[q]`` for its
gradient (``df/dq`` is read as the same, with ``f`` the output). Both read the questions and the grading of
the one grading core (``tutor.teach.grading``) through the quiz (``tutor.teach.quiz.Quiz``)."""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

from ..engine.graph import GraphWalk, grad_key
from ..spec.errors import SpecError, TutorError
from ..spec.graph import Graph
from ..spec.rounding import format_fixed
from .diagnose import Tolerance, parse_number


def normalize_key(walk: GraphWalk, key: str) -> str | None:
    """A name ``explain`` prints for the graph as a key: a node's name, ``grad[n]`` or ``dF/dn`` (F the
    output, or L for a given upstream gradient), a local derivative ``local[g/n]``, an edge's contribution
    ``grad[n@g]``, the step size, a leaf after the update ``n+``, the output after it, and the check's
    numbers (``with_check_values``)."""
    key = key.strip()
    g = walk.graph
    names = {n.name for n in g.nodes if n.kind != "constant"}
    if key in names or key in walk.quantities:
        return key
    m = re.fullmatch(r"grad\[(\w+)\]", key)
    if m and m.group(1) in names:
        return grad_key(m.group(1))
    m = re.fullmatch(r"d(\w+)/d(\w+)", key)
    if m and m.group(1) in (g.output, walk.loss_name) and m.group(2) in names:
        return grad_key(m.group(2))
    return None


def with_check_values(walk: GraphWalk) -> GraphWalk:
    """The walk with the other numbers its documents print named as claimable values: each leaf's central
    difference (``central[x]``) and the output's change after the update (``change[f]``)."""
    from ..engine.steps import Quantity

    for row in walk.check:
        if row.finite_difference is not None:
            key = f"central[{row.leaf}]"
            walk.quantities[key] = Quantity(key, "check", row.finite_difference)
    if walk.output_after:
        key = f"change[{walk.graph.output}]"
        walk.quantities[key] = Quantity(key, "change", walk.value(walk.output_after) - walk.value(walk.graph.output))
    return walk


def check_claims(graph: Graph, claims: list[Mapping[str, Any]], where: str) -> dict[str, Any]:
    """Every claimed number against the engine, at its printed precision, as the checker's report data
    (``tutor.render.check.render_check`` prints it). A claim that follows from earlier wrong claims is marked
    as carried forward; a wrong one names the misconception that gives it, where one does."""
    from ..teach.checker import AGREES, CONVENTION, WRONG, reads_as, rounding_artefact
    from .grading import Grader, World
    from .quiz import Quiz

    quiz = Quiz(graph)
    steps = quiz.walk
    walk = with_check_values(steps.walk)
    for k, q in walk.quantities.items():  # the check's numbers: given values of the grading's walk too
        steps.quantities.setdefault(k, q)
    rows = []
    known: dict[str, float] = {}
    parsed = []
    for i, c in enumerate(claims):
        at = f"{where}: claim[{i}]"
        if not isinstance(c, Mapping) or "quantity" not in c or "value" not in c:
            raise SpecError('expected a table with quantity = "..." and value = "..." (a string, as printed)', at)
        key = normalize_key(walk, str(c["quantity"]))
        if key is None:
            names = ", ".join(n.name for n in graph.nodes if n.kind != "constant")
            raise SpecError(
                f"unknown quantity {str(c['quantity'])[:40]!r}; give a node name ({names}), grad[NAME], "
                f"d{graph.output}/dNAME or another name 'explain --format json' lists under values",
                at,
            )
        printed = c["value"]
        if not isinstance(printed, str) or parse_number(printed) is None:
            raise SpecError(f'expected the value as printed, a string such as "0.5933", got {printed!r:.40}', at)
        parsed.append((i, c, key, printed, parse_number(printed)))
        known[key] = parse_number(printed)
    wrong_claims: set[str] = set()
    graders: dict[int, Grader] = {}
    asked = [q.key for q in quiz.questions]
    for i, c, key, printed, value in parsed:
        places = min(len(printed.split(".")[1]) if "." in printed else 0, 12)
        grader = graders.setdefault(places, Grader(steps, Tolerance("dp", places), asked=asked, label=quiz._label))
        true = steps.value(key)
        agrees = reads_as(true, printed)
        others = {k: v for k, v in known.items() if k != key}
        expected = World(steps, others, grader.round).carried(key)
        carried = tuple(k for k in grader.upstream_known(key, others) if k in wrong_claims)
        # at printed precision: the claim reads as the value rounded to its decimals
        carried_ok = not agrees and bool(carried) and math.isfinite(expected) and reads_as(expected, printed)
        status = AGREES if agrees else (CONVENTION if carried_ok else WRONG)
        step_slip = _gradient_step_slip(graph, walk, key, printed) if status == WRONG else ""
        diagnosis = None if status != WRONG or step_slip else grader.grade(key, value, printed, others).diagnosis
        artefact = rounding_artefact(true, printed) if status == WRONG and diagnosis is None and not step_slip else ""
        if not agrees:
            wrong_claims.add(key)
        rows.append(
            {
                "index": i,
                "quantity": str(c["quantity"]),
                "printed": printed,
                "note": str(c.get("note", "")),
                "after_steps": 0,
                "verdict": status,
                "correct": true,
                "correct_printed": format_fixed(true, places),
                "convention": f"carried forward from the claimed {', '.join(carried)}" if status == CONVENTION else "",
                "diagnosis": diagnosis.description
                if diagnosis
                else (
                    ""
                    if agrees
                    else "arithmetic slip"
                    if step_slip
                    else "rounding artefact"
                    if artefact
                    else "an arithmetic slip"
                ),
                "explanation": diagnosis.detail
                if diagnosis
                else (
                    ""
                    if agrees
                    else step_slip
                    or artefact
                    or f"from the claimed values it would be {format_fixed(expected, places)}"
                ),
                "related": list(carried),
            }
        )
    counts = {s: sum(1 for r in rows if r["verdict"] == s) for s in (AGREES, CONVENTION, WRONG)}
    return {
        "format": "backprop-tutor-check/1",
        "network": graph.title,
        "conventions": "exact float64; a claim agrees when it is a correct rounding of the value at its printed decimals",
        "ok": counts[WRONG] == 0,
        "counts": counts,
        "conventions_tried": [],
        "conventions_skipped": [],
        "claims": rows,
    }


def _gradient_step_slip(graph: Graph, walk: GraphWalk, key: str, printed: str) -> str:
    """A step from given gradients ([graph.gradients]) read the other way: the examples' gradients summed where
    the spec averages them (or averaged where it sums), or an update of plain gradient descent (w - eta g)
    claimed for the spec's optimizer. "" when neither reproduces the claim."""
    from ..teach.checker import reads_as

    if not graph.reduction:
        return ""
    names = {n.name for n in graph.nodes}
    if key.startswith("g_") and f"{key}_e1" in names:
        parts = [walk.value(n) for n in sorted(names) if re.fullmatch(rf"{re.escape(key)}_e\d+", n)]
        total = math.fsum(parts)
        other, what = (
            (total, "summed instead of averaged")
            if graph.reduction == "mean"
            else (
                total / len(parts),
                "averaged instead of summed",
            )
        )
        if reads_as(other, printed):
            return f"the examples' gradients {what}: {printed} is {other:.10g}, their {'sum' if graph.reduction == 'mean' else 'mean'}"
    if key.endswith("_new") and graph.optimizer not in ("", "sgd"):
        w = key[: -len("_new")]
        if w in names and f"g_{w}" in names and "eta" in names:
            plain = walk.value(w) - walk.value("eta") * walk.value(f"g_{w}")
            if reads_as(plain, printed):
                return (
                    f"{printed} is {w} - eta·g_{w} = {plain:.10g}: plain gradient descent (w - eta g) instead of the "
                    f"spec's optimizer {graph.optimizer}"
                )
    return ""


def load_claims(path: str, where: str | None = None) -> list[Mapping[str, Any]]:
    import sys
    from pathlib import Path

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    where = where or str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TutorError(f"cannot read the claims file ({exc})", where) from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"malformed TOML: {exc}", where) from None
    claims = data.get("claim")
    if not isinstance(claims, list) or not claims:
        raise SpecError("expected [[claim]] tables with quantity and value", where)
    return claims


def worksheet(graph: Graph) -> dict[str, str]:
    """A student sheet (blanks for every node's value and gradient) and its answer key, in Markdown: the
    quiz's questions."""
    from .quiz import Quiz

    qz = Quiz(graph)
    head = [f"# {graph.title}", "", "Leaves: " + ", ".join(f"{n.name} = {n.value:g}" for n in graph.leaves), ""]
    head += [f"- `{k} = {v}`" for k, v in graph.expressions.items()]
    head += ["", f"Give every value to {graph.digits} decimals; `grad[n]` is the gradient of {graph.output} by n.", ""]
    sheet = head + [f"{q.number}. `{q.key}` = ______" for q in qz.questions]
    key = head + [f"{q.number}. `{q.key}` = {q.shown}" for q in qz.questions]
    return {"sheet.md": "\n".join(sheet) + "\n", "key.md": "\n".join(key) + "\n"}
