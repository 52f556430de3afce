"""The interactive walk-through and the self-check page, driven in headless Chromium (Selenium, chromedriver).

The pages are opened from files with the browser's networking off (a proxy that refuses every connection and
the DevTools offline mode); every request the page makes is read from the browser's log and must be the
page's own file. The self-check's verdicts are compared with those of the terminal quiz for the same answers.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest

from tutor import load
from tutor.cli import main
from tutor.engine.symbolic import explain_step
from tutor.render import diagram
from tutor.render.interactive import highlights, script_hash, script_json
from tutor.render.lines import writer
from tutor.spec.errors import TutorError
from tutor.spec.rounding import format_fixed
from tutor.teach import selfcheck
from tutor.teach.diagnose import candidates
from tutor.teach.quiz import Quiz

from .conftest import IN_CI, require_program

# Driving Chromium is slow: one stepping of the interactive page (its first steps) and one self-check page run
# in the default set; the whole page and the other pages in the slow set. The tests without a browser run always.

MAZUR_SPEC = Path(__file__).resolve().parent.parent / "worked_examples" / "mazur" / "spec.toml"


def _selenium():
    try:
        import selenium  # noqa: F401
    except ImportError:
        if IN_CI:
            pytest.fail("selenium is not installed (CI installs it with the test extra: see .ci/run)")
        pytest.skip("selenium is not installed")


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium under chromedriver, with networking off and every request logged."""
    _selenium()
    chromium = shutil.which("chromium") or require_program("chromium")
    driver_path = shutil.which("chromedriver") or require_program("chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--proxy-server=127.0.0.1:9",  # every connection would go to a closed port
        "--window-size=1200,900",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0},
    )
    yield driver
    driver.quit()


def open_page(driver, path: Path) -> None:
    driver.get_log("performance")  # drop what an earlier page logged
    driver.get_log("browser")
    driver.get(path.as_uri())
    requests = [
        m["params"]["request"]["url"]
        for m in (json.loads(e["message"])["message"] for e in driver.get_log("performance"))
        if m["method"] == "Network.requestWillBeSent"
    ]
    assert requests == [path.as_uri()], requests  # one request: the file itself
    problems = [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert not problems, problems  # no script error and no Content-Security-Policy violation


def by_css(driver, css: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, css)


def all_css(driver, css: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, css)


def marked(driver, kind: str, cls: str) -> set[int]:
    return {int(e.get_attribute(f"data-{kind}")) for e in all_css(driver, f"svg .{cls}[data-{kind}]")}


# -- the interactive walk-through -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mazur_page(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("interactive") / "mazur.html"
    assert main(["explain", "mazur", "--format", "html", "--interactive", "-o", str(path)]) == 0
    return path


@pytest.mark.parametrize(
    "whole", [pytest.param(False, id="first-steps"), pytest.param(True, id="whole", marks=pytest.mark.slow)]
)
def test_next_through_the_whole_mazur_walk_through(browser, mazur_page, tmp_path, whole):
    from selenium.webdriver.common.keys import Keys

    walk = explain_step(load("mazur"))
    layout = diagram.layout(walk, writer(walk, "web"))
    edge = {e.key: k for k, e in enumerate(layout.edges)}
    node = {n.key: k for k, n in enumerate(layout.nodes) if n.kind != "bias"}
    open_page(browser, mazur_page)
    steps = all_css(browser, ".calc[data-key]")
    n = len(steps)
    keys = [s.get_attribute("data-key") for s in steps]
    assert n > 50 and keys[0] == "net_h1" and "dE_total/dw5" in keys
    seen = []
    last = n if whole else 12  # the forward pass and the first factors of the backward pass
    for k in range(last):
        where = by_css(browser, "#bt-where").text
        assert where.startswith(f"Step {k + 1} of {n}: "), where
        current = all_css(browser, ".calc.bt-current")
        assert len(current) == 1 and current[0].get_attribute("data-key") == keys[k]
        assert current[0].is_displayed()
        assert all(s.is_displayed() == (j <= k) for j, s in enumerate(steps) if j in (0, k, k + 1, n - 1))
        hi_edges, hi_nodes = marked(browser, "edge", "bt-hi"), marked(browser, "node", "bt-hi")
        seen.append((keys[k], hi_edges, hi_nodes, marked(browser, "edge", "bt-path")))
        if keys[k] == "dnet_o1/dw5":
            assert hi_edges == {edge["w5"]} and hi_nodes == {node["h1"], node["o1"]}
            # BT_SCREENSHOTS=DIR keeps the screenshot for a person to look at
            folder = Path(os.environ.get("BT_SCREENSHOTS") or tmp_path)
            assert browser.save_screenshot(str(folder / "interactive-dnet_o1-dw5.png"))
        if k + 1 < last:  # the button and the keys alike
            if k % 2:
                by_css(browser, "#bt-next").click()
            else:
                by_css(browser, "body").send_keys(Keys.ARROW_RIGHT)
    steps_of = {key: (e, nd, p) for key, e, nd, p in seen}
    # every step the diagram can show is shown: all forward steps name their neuron
    assert steps_of["net_h1"][1] >= {node["h1"]} and {edge["w1"], edge["w2"]} <= steps_of["net_h1"][0]
    if not whole:
        by_css(browser, "body").send_keys("p")
        assert by_css(browser, "#bt-where").text.startswith(f"Step {last - 1} of {n}")
        return
    assert by_css(browser, "#bt-next").get_attribute("disabled") is not None
    # a gradient highlights its weight and the paths from its neuron to the loss
    e, nd, path = steps_of["dE_total/dw1"]
    assert edge["w1"] in e and node["h1"] in nd
    assert path == {edge["w5"], edge["w7"]}  # w1 reaches the loss through h1 -> o1 (w5) and h1 -> o2 (w7)
    e, nd, path = steps_of["dE_total/dw5"]
    assert e == {edge["w5"]} and path == set()  # an output weight: its edge is the whole path
    # back with the left arrow and "p"
    body = by_css(browser, "body")
    body.send_keys(Keys.ARROW_LEFT)
    body.send_keys("p")
    assert by_css(browser, "#bt-where").text.startswith(f"Step {n - 2} of {n}")
    body.send_keys(Keys.HOME)
    assert by_css(browser, "#bt-where").text.startswith(f"Step 1 of {n}")


def test_the_page_shows_the_whole_walk_through_without_javascript(tmp_path, mazur_page):
    _selenium()
    chromium = shutil.which("chromium") or require_program("chromium")
    driver_path = shutil.which("chromedriver") or require_program("chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--proxy-server=127.0.0.1:9"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        driver.get(mazur_page.as_uri())
        steps = all_css(driver, ".calc[data-key]")
        assert steps and all(s.is_displayed() for s in steps)
        assert not by_css(driver, "#bt-controls").is_displayed()
    finally:
        driver.quit()


# -- the self-check page --------------------------------------------------------------------------------------


def _cli_verdicts(answers: dict[int, str]) -> list[tuple[int, str, str]]:
    """(question, verdict, misconception) of the terminal quiz for the same answers (unanswered ones skipped)."""
    qz = Quiz(load("mazur"), tries=1)  # a box is graded as typed, as an answers file is: one try each
    out = []
    for q in qz.questions[: max(answers)]:
        fb = qz.respond(answers.get(q.number, "s"))
        if q.number in answers:
            d = fb.answer.diagnosis
            out.append((q.number, fb.verdict, d.misconception if d else ""))
    return out


def _page_verdicts(driver, numbers) -> list[tuple[int, str, str]]:
    out = []
    for n in numbers:
        o = by_css(driver, f'output[data-q="{n}"]')
        out.append((n, o.get_attribute("data-verdict"), o.get_attribute("data-misconception") or ""))
    return out


def test_self_check_grades_as_the_quiz_does(browser, tmp_path):
    from selenium.webdriver.common.keys import Keys

    path = tmp_path / "selfcheck.html"
    assert main(["explain", "mazur", "--self-check", "-o", str(path)]) == 0
    qz = Quiz(load("mazur"), tries=1)  # a box is graded as typed, as an answers file is: one try each
    number = {q.key: q.number for q in qz.questions}
    digits = qz.network.conventions.digits
    answers = {number[k]: qz.questions[number[k] - 1].shown for k in ("net_h1", "net_h2", "out_h1", "out_h2")}
    answers[number["net_o1"]] = "1.2"  # wrong
    # follows from the wrong net_o1: credited
    answers[number["out_o1"]] = format_fixed(1 / (1 + math.exp(-1.2)), digits)
    # a misconception's value, as the tutor computes it: net_o2 without its bias
    bias = next(c for c in candidates(qz.walk, "net_o2") if c.misconception == "forgot-bias")
    answers[number["net_o2"]] = format_fixed(bias.value, digits)
    answers[number["out_o2"]] = qz.questions[number["out_o2"] - 1].shown
    answers[number["E_o1"]] = "0.25"  # wrong, and follows from nothing
    open_page(browser, path)
    for n in sorted(answers):
        box = by_css(browser, f'input[data-q="{n}"]')
        box.send_keys(answers[n] + Keys.ENTER)
    cli = _cli_verdicts(answers)
    page = _page_verdicts(browser, sorted(answers))
    assert page == cli
    verdicts = {n: v for n, v, _ in page}
    assert verdicts[number["net_o1"]] == "wrong" and verdicts[number["out_o1"]] == "carried"
    assert dict((n, m) for n, _, m in page)[number["net_o2"]] == "forgot-bias"
    assert verdicts[number["net_h1"]] == "correct"
    text = by_css(browser, f'output[data-q="{number["net_o2"]}"]').text
    assert "bias" in text and text.startswith("Not right yet:")  # a box takes two tries, as the quiz
    assert "1 from an earlier mistake" in by_css(browser, ".bt-score").text
    # the worked line is behind its button until asked for
    q = number["net_o1"]
    line = by_css(browser, f'input[data-q="{q}"] ~ details .calc')
    assert not line.is_displayed()
    by_css(browser, f'input[data-q="{q}"] ~ details summary').click()
    assert line.is_displayed() and qz.questions[q - 1].shown in line.text.replace("\n", "")
    # a box typed out of order is graded with the answers before it, as they stand now
    box = by_css(browser, f'input[data-q="{number["net_o1"]}"]')
    box.clear()
    box.send_keys(qz.questions[number["net_o1"] - 1].shown + Keys.ENTER)
    answers[number["net_o1"]] = qz.questions[number["net_o1"] - 1].shown
    assert _page_verdicts(browser, sorted(answers)) == _cli_verdicts(answers)


@pytest.mark.slow
def test_self_check_backward_pass_misconceptions_match_the_quiz(browser, tmp_path):
    """Right answers through the forward pass and the error, then the misconceptions of the backward pass."""
    from selenium.webdriver.common.keys import Keys

    path = tmp_path / "selfcheck.html"
    qz = Quiz(load("mazur"), tries=1)  # a box is graded as typed, as an answers file is: one try each
    path.write_text(selfcheck.page(qz), encoding="utf-8")
    digits = qz.network.conventions.digits
    answers: dict[int, str] = {}
    tried = []
    for q in qz.questions:
        if q.section in ("forward", "loss"):
            answers[q.number] = q.shown
            continue
        # every misconception of the first quantity that has one, once each
        known = {k.key: float(k.shown) for k in qz.questions[: q.number - 1]}
        from tutor.teach.diagnose import StudentWorld

        cands = candidates(qz.walk, q.key, world=StudentWorld(qz.walk, known))
        cands = [c for c in cands if not qz.tolerance.accepts(c.value, q.value)]
        if cands and len(tried) < 3:
            answers[q.number] = format_fixed(cands[0].value, digits)
            tried.append(cands[0].misconception)
        else:
            answers[q.number] = q.shown
        if len(tried) == 3 or q.number > 40:
            break
    open_page(browser, path)
    for n in sorted(answers):
        by_css(browser, f'input[data-q="{n}"]').send_keys(answers[n] + Keys.ENTER)
    page = _page_verdicts(browser, sorted(answers))
    assert page == _cli_verdicts(answers)
    assert len([m for _, _, m in page if m]) >= 2, page


@pytest.mark.slow
def test_self_check_page_in_a_notebook_output_is_scoped(browser, tmp_path):
    """Two self-checks as cell outputs of one page: each grades its own boxes; their styles stay inside."""
    from selenium.webdriver.common.keys import Keys

    import tutor

    a, b = tutor.self_check("mazur"), tutor.self_check("appendix-a", digits=4)
    host = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><style>h1 { font-size: 40px; }</style></head><body>"
        "<h1 id='outside'>Notebook</h1><div class='bt-q' id='outside-q'>not a box</div>"
        f"<div class='output'>{a._repr_html_()}</div><div class='output'>{b._repr_html_()}</div></body></html>"
    )
    path = tmp_path / "notebook.html"
    path.write_text(host, encoding="utf-8")
    browser.get(path.as_uri())
    roots = all_css(browser, ".bt-selfcheck")
    assert len(roots) == 2 and all(r.get_attribute("data-ready") == "1" for r in roots)
    assert by_css(browser, "#outside").value_of_css_property("font-size") == "40px"
    assert by_css(browser, "#outside-q").value_of_css_property("border-left-width") == "0px"
    for root, quiz in zip(roots, (a.quiz, b.quiz)):
        first = quiz.questions[0]
        root.find_element("css selector", 'input[data-q="1"]').send_keys(first.shown + Keys.ENTER)
        assert root.find_element("css selector", 'output[data-q="1"]').get_attribute("data-verdict") == "correct"


@pytest.mark.slow
def test_spec_text_cannot_run_in_the_pages(browser, tmp_path):
    """A title and a description with markup and script: shown as text; the page's own script still runs."""
    text = MAZUR_SPEC.read_text(encoding="utf-8")
    evil = "<script>window.pwned=1</script><img src=x onerror=window.pwned=2>&amp;"
    lines = [
        f"{line.split()[0]} = {json.dumps(evil)}" if line.startswith(("title", "description")) else line
        for line in text.splitlines()
    ]
    spec = tmp_path / "evil.toml"
    spec.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for args, name in (
        (["--format", "html", "--interactive"], "interactive.html"),
        (["--self-check"], "selfcheck.html"),
    ):
        out = tmp_path / name
        assert main(["explain", str(spec), *args, "-o", str(out)]) == 0
        html = out.read_text(encoding="utf-8")
        assert "<script>window" not in html and "<img" not in html
        open_page(browser, out)
        assert browser.execute_script("return window.pwned === undefined")
        assert evil in by_css(browser, "h1").text
        assert browser.execute_script(
            "return document.documentElement.classList.contains('bt-js') || !!document.querySelector('.bt-live')"
        )


# -- without a browser: the policy, the data, the formulas --------------------------------------------------------


def test_policy_names_exactly_the_inline_scripts(mazur_page):
    import re

    html = mazur_page.read_text(encoding="utf-8")
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html).group(1).replace("&#39;", "'")
    assert "default-src 'none'" in policy and "connect-src" not in policy
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    # the stepper's and the editable page's: the policy names exactly these two, by their hashes
    assert len(scripts) == 2 and f"script-src {' '.join(script_hash(s) for s in scripts)};" in policy
    assert "eval(" not in scripts[1] and "Function(" not in scripts[1] and "unsafe-eval" not in policy
    assert not re.search(r"\b(?:src|href|action)\s*=|url\(|@import", html)  # nothing to load from anywhere


def test_data_cannot_close_its_script_element():
    assert script_json({"a": "</script><!--&"}) == '{"a": "\\u003c/script\\u003e\\u003c!--\\u0026"}'


def test_every_form_of_every_activation_prints_as_checked_javascript():
    from tutor.engine.symbolic import act_form, dact_form, loss_forms
    from tutor.spec import rules

    params = {"leaky_relu": (("slope", 0.01),), "elu": (("alpha", 1.0),)}
    for name, rule in rules.ACTIVATIONS.items():
        if rule.sym is None:
            continue
        p = params.get(name, ())
        if name == "gelu":  # erf: JavaScript's Math has none, so the page refuses the network in one line
            with pytest.raises(TutorError, match="JavaScript has no erf"):
                selfcheck.javascript(act_form(name, p))
            continue
        assert selfcheck.javascript(act_form(name, p)).startswith("function (_0)")
        if rule.sym_deriv is not None:
            selfcheck.javascript(dact_form(name, p))
    for loss in ("half_sse", "mse", "binary_cross_entropy"):
        terms, total, grads = loss_forms(loss, 2, (), 0)
        for f in [*terms, total, *grads]:
            assert "Math" in selfcheck.javascript(f) or "_" in selfcheck.javascript(f)


def test_a_formula_outside_the_grammar_is_refused():
    import sympy as sp

    from tutor.engine.steps import Form
    from tutor.spec.errors import TutorError

    x = sp.Symbol("_0")
    with pytest.raises(TutorError):
        selfcheck.javascript(Form(sp.Symbol("alert") * x, None, (x,)))


def test_highlights_name_generated_positions_only():
    walk = explain_step(load("mazur"))
    layout = diagram.layout(walk, writer(walk, "web"))
    table = highlights(walk, layout)
    assert set(table["dnet_o1/dw5"]["e"]) == {k for k, e in enumerate(layout.edges) if e.key == "w5"}
    for entry in table.values():
        assert all(isinstance(i, int) for key in ("n", "e", "pe", "pn") for i in entry.get(key, []))


def test_worksheet_html_writes_a_self_check_per_variant(tmp_path):
    assert main(["worksheet", "--count", "2", "--seed", "5", "--format", "html", "-o", str(tmp_path / "w")]) == 0
    pages = sorted((tmp_path / "w").glob("variant-*/selfcheck.html"))
    assert len(pages) == 2
    html = pages[0].read_text(encoding="utf-8")
    assert "quiz --random --seed 5" in html and html.count('class="bt-q"') > 10
    again = tmp_path / "again"
    assert main(["worksheet", "--count", "2", "--seed", "5", "--format", "html", "-o", str(again)]) == 0
    assert (again / "variant-01" / "selfcheck.html").read_bytes() == pages[0].read_bytes()


def test_interactive_and_self_check_refuse_other_formats(capsys):
    assert main(["explain", "mazur", "--interactive"]) == 2
    assert "--interactive" in capsys.readouterr().err
    assert main(["explain", "mazur", "--self-check", "--format", "md"]) == 2
    assert "--self-check" in capsys.readouterr().err
