"""Spec templates: sandboxed Jinja that cannot build huge text or loop without end."""

from __future__ import annotations

import re

import pytest

from warehouse.sources.templates import BoundedSandbox, TemplateLimitError, render_bounded

ROW = {"question": "Which planet is red?", "choices": [{"text": "Mars"}, {"text": "Venus"}], "n": 3}


def render(source: str) -> str:
    return render_bounded(BoundedSandbox().from_string(source), ROW)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("Question: {{question}}\nAnswer:", "Question: Which planet is red?\nAnswer:"),
        ("{{ choices | map(attribute='text') | join(', ') }}", "Mars, Venus"),
        ("{{ choices | map(attribute='text') | list }}", "['Mars', 'Venus']"),
        ("{{ '%s (%d)' % (question, n) }}", "Which planet is red? (3)"),
        ("{{ '{} {}'.format('a', 'b') }}", "a b"),
        ("{{ 'ab' * n }}-{{ 2 ** 10 }}-{{ question ~ '!' }}", "ababab-1024-Which planet is red?!"),
        ("{% for i in range(n) %}{{ i }}{% endfor %}", "012"),
        ("{{ question | replace('red', 'blue') | center(24) }}", "Which planet is blue?".center(24)),
    ],
)
def test_ordinary_templates_render_as_jinja_does(source: str, expected: str) -> None:
    assert render(source) == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ 'x' * 1000000000 }}", "'*' would make 1,000,000,000 characters, over the limit of 1,000,000"),
        ("{{ [0] * 1000000000 }}", "'*' would make 1,000,000,000"),
        ("{{ 10 ** 100000000 }}", "'**' would make"),
        ("{% for i in range(100000000) %}x{% endfor %}", "range of 100,000,000 items is over the limit of 1,000,000"),
        (
            "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
            "does more than 1,000,000 operations for one row",
        ),
        ("{% for i in range(900000) %}{{ i }}{% endfor %}", "rendered text is over the limit of 1,000,000 characters"),
        ("{% set a = 'x' * 900000 %}{{ a ~ a }}", "'~' would make 1,800,000 characters"),
        ("{% set a = 'x' * 900000 %}{{ a + a }}", "'+' would make 1,800,000 characters"),
        ("{{ 'x'.center(1000000000) }}", "str.center would make 1,000,000,000 characters"),
        ("{{ 'x' | center(1000000000) }}", "filter 'center' would make 1,000,000,000 characters"),
        ("{{ '%1000000000s' % 'x' }}", "'%' formatting would make"),
        ("{{ '{:>1000000000}'.format('x') }}", "str.format would make"),
        ("{{ ('ab' * 1000).replace('', 'x' * 1000) }}", "str.replace would make 2,003,000 characters"),
        ("{{ ('ab' * 1000) | replace('', 'x' * 1000) }}", "filter 'replace' would make 2,003,000 characters"),
        ("{{ ('a\n' * 1000) | indent(100000) }}", "filter 'indent' would make"),
        ("{{ ('x' * 1000) | wordwrap(1, wrapstring='y' * 1000) }}", "filter 'wordwrap' would make"),
        ("{{ (range(10) | map('string') | list) | join('-' * 200000) }}", "join would make 1,800,010 characters"),
        ("{{ [1] | batch(1000000000) | list }}", "filter 'batch' would make 1,000,000,000"),
    ],
)
def test_templates_that_would_build_too_much_or_loop_too_long_stop(source: str, message: str) -> None:
    with pytest.raises(TemplateLimitError) as raised:
        render(source)
    assert message in str(raised.value)


def test_lipsum_is_not_available() -> None:
    with pytest.raises(Exception, match="'lipsum' is undefined"):
        render("{{ lipsum(100000) }}")


def test_the_work_budget_is_per_render() -> None:
    template = BoundedSandbox().from_string("{% for i in range(600000) %}{% endfor %}ok")
    assert [render_bounded(template, ROW) for _ in range(3)] == ["ok", "ok", "ok"]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ [[1]*999999]*999999 }}", "'*' would make"),
        ("{% set a = ['x']*100000 %}{{ [a, a, a, a, a, a, a, a, a, a] }}", "the printed value would make"),
        ("{% set a = ['x']*100000 %}{{ [a, a, a, a, a, a, a, a, a, a]|join(',') }}", "join would make"),
        ("{% set a = ['x']*100000 %}{{ 'q' ~ [a, a, a, a, a, a, a, a, a, a] }}", "'~' would make"),
        ("{% set a = [['x']*100000] %}{{ a + a + a + a + a + a + a }}", "'+' would make"),
    ],
)
def test_nested_lists_are_sized_as_the_text_they_print(template: str, message: str) -> None:
    with pytest.raises(TemplateLimitError, match=re.escape(message)):
        render_bounded(BoundedSandbox().from_string(template), {})
