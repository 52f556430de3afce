"""The compiled-template cache is bounded: a large template folder never grows it with its size."""

from __future__ import annotations

from tutor.render import templates
from tutor.render.options import Options


def test_compiled_template_cache_has_a_size_limit(tmp_path, monkeypatch):
    monkeypatch.delenv("BACKPROP_TUTOR_NO_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "templates"
    folder.mkdir()
    # one huge template (over the entry limit compiled) and many mid-sized ones (about 0.3 MB compiled each, 12 MB in all)
    (folder / "huge.j2").write_text("{{ x }}\n" + "text {{ x }} and more text\n" * 30000, encoding="utf-8")
    for k in range(40):
        (folder / f"mid{k}.j2").write_text(f"{k} {{{{ x }}}}\n" * 2500, encoding="utf-8")
    options = Options(template_dir=folder)
    assert templates.render_template("huge.j2", {"x": 1}, options=options).startswith("1\n")
    for k in range(40):
        templates.render_template(f"mid{k}.j2", {"x": 1}, options=options)
    cached = list((tmp_path / "cache").rglob("*.cache"))
    total = sum(f.stat().st_size for f in cached)
    assert cached, "nothing was cached: the test proves nothing"
    assert all(f.stat().st_size <= templates.CACHE_ENTRY_LIMIT + 4096 for f in cached)
    assert total <= templates.CACHE_LIMIT
