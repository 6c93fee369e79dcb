"""The one way back of every form (``market.web.forms.Form``) and the one placement of a refusal on
a form (``form_refusal``): what a refused CSRF token, a service's refusal and the ledger's look like
on a page, the input kept, in either language; and no page re-rendering its form by a hand-made
closure again."""

import ast
from functools import partial
from pathlib import Path

import pytest
from litestar import Request
from litestar.response import Template

from ledger.errors import InsufficientFunds
from market.activities.validation import InvalidFields
from market.errors import Conflict, CsrfRejected, InvalidInput
from market.web.forms import PHOTO, Form, form_refusal, refusal_text

WEB = Path(__file__).resolve().parents[2] / "market" / "web"


def request_in(language: str) -> Request:
    headers = [(b"accept-language", b"en" if language == "en" else b"zh-CN")]
    return Request(scope={"type": "http", "method": "POST", "path": "/", "headers": headers,
                          "query_string": b"", "app": None})  # type: ignore[typeddict-item]


def drawn(*, status: int, problem: str | None, errors: dict[str, str], refusal: str | None,
          **page: object) -> Template:
    """A form's page as a template response: what the form was given is its context."""
    return Template(template_name="form.html", status_code=status,
                    context={"problem": problem, "errors": errors, "refusal": refusal, **page})


async def drawn_later(**shown: object) -> Template:
    return drawn(**shown)  # type: ignore[arg-type]


def test_a_refusal_naming_a_field_of_the_form_is_said_at_the_top_and_beside_it() -> None:
    shown = form_refusal("zh", InvalidInput("invalid_price", field="price", max_price="1000.00"),
                         ("name", "price"))
    assert shown.status == 400 and shown.reason == "invalid_price"
    assert shown.problem and shown.errors == {"price": shown.problem}
    assert "price" not in shown.problem  # the service's name for the field is never in the text


def test_a_refusal_naming_no_field_of_the_form_is_said_at_the_top_only() -> None:
    shown = form_refusal("en", InvalidInput("invalid_input", field="communities"), ("shared",))
    assert (shown.status, shown.reason, shown.errors) == (400, "invalid_input", {})
    assert "communities" not in shown.problem and shown.problem


def test_a_refusal_of_several_fields_says_each_beside_its_own() -> None:
    several = InvalidFields([InvalidInput("invalid_title", field="title"),
                             InvalidInput("invalid_capacity", field="capacity"),
                             InvalidInput("invalid_input", field="not_on_this_form")])
    shown = form_refusal("zh", several, ("title", "capacity"))
    assert shown.reason == "invalid_title" and shown.problem == shown.errors["title"]
    assert list(shown.errors) == ["title", "capacity"]
    assert shown.errors["capacity"] == form_refusal("zh", several.errors[1]).problem != shown.problem


def test_a_text_that_starts_with_the_field_names_it_rather_than_say_nothing() -> None:
    shown = form_refusal("en", InvalidInput("invalid_cap", field="daily_cap"), ("daily_cap",))
    assert shown.problem == "daily_cap must be 0 to 1,000,000 points"
    assert shown.errors == {"daily_cap": shown.problem}


def test_a_page_may_name_the_field_by_its_label() -> None:
    error = InvalidInput("invalid_cap", field="cap_per_day")
    assert refusal_text("en", error, labels={"cap_per_day": "Most a person may earn a day"})[2] == (
        "Most a person may earn a day must be 0 to 1,000,000 points")
    assert refusal_text("en", error, labels={"other": "Other"})[2].startswith("cap_per_day ")


def test_a_service_name_for_a_field_is_read_as_the_forms() -> None:
    shown = form_refusal("zh", InvalidInput("invalid_photo", field="file"), ("photo",), aliases=PHOTO)
    assert list(shown.errors) == ["photo"]
    assert form_refusal("zh", InvalidInput("invalid_photo", field="file"), ("photo",)).errors == {}


def test_the_ledgers_refusals_read_as_the_api_says_them() -> None:
    shown = form_refusal("zh", InsufficientFunds())
    assert (shown.status, shown.reason, shown.problem) == (409, "insufficient_points", "积分不足")
    assert form_refusal("en", InsufficientFunds()).problem == "Not enough points"


@pytest.mark.parametrize("show", [drawn, drawn_later], ids=["function", "coroutine"])
async def test_every_way_back_keeps_what_was_typed(show) -> None:
    typed = {"name": "大米", "price": "-1"}
    form = Form(request_in("en"), partial(show, values=typed), fields=typed)

    refused_token = await form.refused(CsrfRejected())
    assert refused_token.status_code == 403 and refused_token.context["refusal"] == "csrf"
    assert refused_token.context["errors"] == {} and refused_token.context["problem"]

    invalid = await form.invalid({"price": "The price must be more than 0 points"})
    assert invalid.status_code == 400 and invalid.context["problem"] == "Please check the marked fields."
    assert invalid.context["errors"] == {"price": "The price must be more than 0 points"}

    taken = await form.refused(Conflict("product_exists", field="name"))
    assert taken.status_code == 409 and taken.context["refusal"] == "product_exists"
    assert taken.context["errors"] == {"name": taken.context["problem"]}

    # What a page adds on the way back (a fresh idempotency key) replaces what was bound.
    again = await form.again(422, "used", key=None)
    assert again.context["key"] is None and again.context["problem"] == "used"
    for answer in (refused_token, invalid, taken, again):
        assert answer.context["values"] is typed


def test_no_page_re_renders_its_form_by_a_closure_of_its_own() -> None:
    """Each form page binds what was typed into ``Form``; a nested ``again`` was the old way,
    a dozen of them, each mapping refusals a little differently."""
    functions = ast.FunctionDef | ast.AsyncFunctionDef
    closures = []
    for module in sorted(WEB.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, functions):
                closures += [f"{module.name}:{inner.lineno}" for inner in ast.walk(node)
                             if inner is not node and isinstance(inner, functions) and inner.name == "again"]
    assert closures == []


def test_no_page_builds_a_refusals_text_by_hand() -> None:
    """A refusal's text comes from ``market.errors.refusal_of`` through ``forms`` (``form_refusal``,
    ``refusal_for``), never from an exception's reason and parameters picked apart on a page."""
    by_hand = []
    for module in sorted(WEB.glob("*.py")):
        if module.name == "forms.py":
            continue
        tree = ast.parse(module.read_text(encoding="utf-8"))
        caught = {node.name for node in ast.walk(tree) if isinstance(node, ast.ExceptHandler) and node.name}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)
                    and getattr(node.func, "attr", getattr(node.func, "id", None)) == "error_text"
                    and len(node.args) > 1 and isinstance(reason := node.args[1], ast.Attribute)
                    and isinstance(reason.value, ast.Name) and reason.value.id in caught):
                by_hand.append(f"{module.name}:{node.lineno}")
    assert by_hand == []
