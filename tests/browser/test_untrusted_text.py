"""Untrusted text renders inert in a real browser: every page that shows prompts, responses, critiques,
rationales, flag names, instructions or import errors is loaded with hostile content."""

import io

import pytest

from assist.models import AssistArtifact
from assist.services.generation import active_templates
from labeling.services.assignment import assignment_claim_next
from labeling.services.judgement import ComparisonAnswer, judgement_submit
from labeling.services.quality import project_stats_refresh
from tests.labeling.factories import ProjectFactory, UserFactory, import_lines, jsonl, rater_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def hostile(n: int) -> str:
    return (
        f'<script>__xss({n})</script> <img src=x onerror="__xss({n + 1})"> <svg onload=__xss({n + 2})></svg>'
        f' "><img src=x onerror=__xss({n + 3})> </script><script>__xss({n + 4})</script>'
        f' [click me](javascript:__xss({n + 5})) <a href="javascript:__xss({n + 6})">x</a> **bold**'
    )


@pytest.fixture
def hostile_world():  # type: ignore[no-untyped-def]
    admin = UserFactory(username="admin-x", role="admin")
    project = ProjectFactory(
        name="Hostile <script>__xss(90)</script>",
        instructions=hostile(100),
        flags=["<img src=x onerror=__xss(110)>", "</script><script>__xss(111)</script>"],
        overlap=2,
        members=[admin],
    )
    line = {
        "id": "x1",
        "kind": "comparison",
        "prompt": [
            {"role": "user", "content": hostile(10)},
            {"role": "assistant", "content": hostile(20)},
            {"role": "user", "content": "?"},
        ],
        "context": hostile(30),
        "responses": [{"id": "a", "text": hostile(40), "model": "<b>m</b>"}, {"id": "b", "text": hostile(50)}],
    }
    batch = import_lines(project, [line], name="<script>__xss(120)</script>.jsonl")
    item = batch.items.get()
    template = active_templates()["critique"]
    for response in item.responses.all():
        AssistArtifact.objects.create(
            item=item,
            response=response,
            kind="critique",
            target="response",
            backend="local",
            model_id="<script>__xss(130)</script>",
            template=template,
            status="done",
            text=hostile(60),
        )
    first = rater_in(project, "first-rater")
    assignment = assignment_claim_next(project=project, rater=first)
    judgement_submit(
        assignment=assignment, answer=ComparisonAnswer(ranking=[["a"], ["b"]], strength=1, rationale=hostile(70))
    )
    project_stats_refresh(project=project)
    return {"project": project, "admin": admin, "rater": rater_in(project, "second-rater"), "item": item}


def assert_inert(page) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xssHits") == []
    assert page.locator('a[href^="javascript:" i]').count() == 0


@pytest.fixture
def guarded_page(page):  # type: ignore[no-untyped-def]
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.add_init_script("window.__xssHits = []; window.__xss = (n) => window.__xssHits.push(n);")
    yield page
    assert dialogs == []


def test_rater_pages_render_hostile_text_inert(guarded_page, live_server, login, hostile_world):
    project = hostile_world["project"]
    login(guarded_page, hostile_world["rater"].username)

    for path in ["/", f"/projects/{project.pk}/guidelines/", f"/projects/{project.pk}/label/"]:
        assert guarded_page.goto(f"{live_server.url}{path}").ok, path
        assert_inert(guarded_page)
    guarded_page.wait_for_selector("details.assist")
    assert "<script>" in guarded_page.locator(".responses").inner_text()  # shown as text, not run
    guarded_page.keyboard.press("?")
    assert_inert(guarded_page)


def test_admin_pages_render_hostile_text_inert(guarded_page, live_server, login, hostile_world):
    project, item = hostile_world["project"], hostile_world["item"]
    login(guarded_page, hostile_world["admin"].username)

    for path in [
        f"/projects/{project.pk}/",
        f"/projects/{project.pk}/dashboard/",
        f"/projects/{project.pk}/adjudication/",
        f"/projects/{project.pk}/adjudication/{item.pk}/",
        f"/projects/{project.pk}/assistance/",
        f"/projects/{project.pk}/members/",
    ]:
        assert guarded_page.goto(f"{live_server.url}{path}").ok, path
        assert_inert(guarded_page)


def test_import_error_messages_render_inert(guarded_page, live_server, login, hostile_world):
    project = hostile_world["project"]
    login(guarded_page, hostile_world["admin"].username)
    guarded_page.goto(f"{live_server.url}/projects/{project.pk}/upload/")
    bad = jsonl(
        [{"id": "1", "kind": "comparison", "prompt": "p", "responses": [], "<img src=x onerror=__xss(140)>": 1}]
    )

    guarded_page.set_input_files(
        "input[name=file]",
        files=[
            {
                "name": "<svg onload=__xss(141)>.jsonl",
                "mimeType": "application/json",
                "buffer": io.BytesIO(bad).getvalue(),
            }
        ],
    )
    guarded_page.click("button[type=submit].primary")

    guarded_page.wait_for_selector(".notice.error")
    assert "unknown field" in guarded_page.locator(".notice.error").inner_text()
    assert_inert(guarded_page)
