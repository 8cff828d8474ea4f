"""Sign-in with a real OIDC provider in a real browser: roles, allowed domain, history per user, deletion on request.

The app runs with `.streamlit/secrets.toml` pointing `st.login` at the provider of
``tests/oidc_provider.py`` (discovery, authorization code + PKCE, token, JWKS, RS256 ID
tokens). Each person signs in through the provider's form in a browser context of their
own (their own cookies), as different people on different machines would.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest

from kb.core.settings import REPO_ROOT, Settings
from kb.governance.conversations import Conversations
from tests.app_fixtures import CHROMIUM, CHROMIUM_ARGS, app_env, free_port, start_app
from tests.helpers import ask_in_chat
from tests.oidc_provider import OIDCProvider, oidc_provider  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium")]
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
WAIT_MS = 240_000  # the first page loads the model; on a busy machine that takes minutes
PAT, SAM, LEE, KIM = "pat@lakeside.k12.us", "sam@lakeside.k12.us", "lee@lakeside.k12.us", "kim@gmail.com"
PAT_Q = "How should our district prepare for a ransomware attack?"
SAM_Q = "What does E-Rate Category Two cover?"


def _secrets(provider: OIDCProvider, port: int) -> str:
    return (f'[auth]\nredirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
            f'cookie_secret = "{secrets.token_urlsafe(32)}"\nclient_id = "{provider.client_id}"\n'
            f'client_secret = "{provider.client_secret}"\nserver_metadata_url = "{provider.metadata_url}"\n')


def ask(page, question: str) -> object:  # type: ignore[no-untyped-def]
    return ask_in_chat(page, question, wait_ms=WAIT_MS)


def sign_in(browser, url: str, email: str):  # type: ignore[no-untyped-def]
    """A new browser context (its own cookies) signed in as ``email`` through the provider's form."""
    context = browser.new_context()
    context.set_default_timeout(WAIT_MS)  # the first page of a busy machine waits for the model to load
    page = context.new_page()
    page.goto(url)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("E-mail address").fill(email)  # the provider's page
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(lambda u: u.startswith(url), timeout=WAIT_MS)
    return page


def expect_nav(page, titles: list[str]) -> None:  # type: ignore[no-untyped-def]
    """The navigation menu lists exactly these pages (waits for it to be drawn)."""
    patterns = [re.compile(f"{title}$") for title in titles]  # the link text starts with its icon's name
    sync_api.expect(page.get_by_test_id("stSidebarNav").get_by_role("link")).to_have_text(patterns, timeout=WAIT_MS)


@pytest.fixture
def data_dir(tmp_path: Path, real_embedder) -> Path:  # type: ignore[no-untyped-def]
    from ingest.pipeline import run_ingest
    from kb.index.knowledge import KnowledgeBase

    data = tmp_path / "data"
    names = ["cyber-ransomware-preparedness.md", "budget-e-rate-category-one-and-two.md"]
    report = run_ingest(KnowledgeBase(Settings(data_dir=data), embedder=real_embedder),
                        [str(REPO_ROOT / "library" / n) for n in names])
    assert not report.failed
    return data


def test_sign_in_roles_history_per_user_and_deletion(tmp_path: Path, data_dir: Path,
                                                     oidc_provider: OIDCProvider) -> None:  # noqa: F811
    expect = sync_api.expect
    port = free_port()
    oidc_provider.redirect_uris.append(f"http://127.0.0.1:{port}/oauth2callback")
    env = app_env(data_dir, CTO_AUTH_ALLOWED_DOMAINS="lakeside.k12.us", CTO_AUTH_STAFF=SAM, CTO_AUTH_ADMINS=LEE)
    app = start_app(tmp_path / "run", env, port=port, secrets=_secrets(oidc_provider, port))
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            # nobody gets in without signing in
            anonymous = browser.new_context().new_page()
            anonymous.set_default_timeout(WAIT_MS)
            anonymous.goto(app.url)
            expect(anonymous.get_by_role("button", name="Sign in")).to_be_visible(timeout=WAIT_MS)
            expect(anonymous.get_by_test_id("stChatInputTextArea")).to_have_count(0)

            # a reader: chat and library only; asks, and sees their conversation listed
            pat = sign_in(browser, app.url, PAT)
            expect(pat.get_by_test_id("stSidebar")).to_contain_text(PAT, timeout=WAIT_MS)
            expect(pat.get_by_test_id("stSidebar")).to_contain_text("reader")
            expect_nav(pat, ["Chat", "Library"])
            ask(pat, PAT_Q)
            expect(pat.get_by_test_id("stSidebar").get_by_role("button", name=PAT_Q)).to_be_visible(timeout=WAIT_MS)
            pat.get_by_test_id("stSidebarNav").get_by_role("link", name="Library").click()
            pat.get_by_role("tab", name="Add or remove").click()
            expect(pat.get_by_text("has the reader role")).to_be_visible(timeout=WAIT_MS)
            expect(pat.get_by_test_id("stFileUploaderDropzoneInput")).to_have_count(0)

            # staff: may change the library and see evaluation; sees none of the reader's history
            sam = sign_in(browser, app.url, SAM)
            expect(sam.get_by_test_id("stSidebar")).to_contain_text("staff", timeout=WAIT_MS)
            expect_nav(sam, ["Chat", "Library", "Evaluation"])
            expect(sam.get_by_test_id("stSidebar").get_by_role("button", name=PAT_Q)).to_have_count(0)
            ask(sam, SAM_Q)
            expect(sam.get_by_test_id("stSidebar").get_by_role("button", name=SAM_Q)).to_be_visible(timeout=WAIT_MS)
            expect(sam.get_by_test_id("stSidebar").get_by_role("button", name=PAT_Q)).to_have_count(0)
            sam.get_by_test_id("stSidebarNav").get_by_role("link", name="Library").click()
            sam.get_by_role("tab", name="Add or remove").click()
            expect(sam.get_by_text(f"Signed in as {SAM} (staff)")).to_be_visible(timeout=WAIT_MS)

            # another domain is refused
            kim = sign_in(browser, app.url, KIM)
            expect(kim.get_by_text("admits accounts of lakeside.k12.us only")).to_be_visible(timeout=WAIT_MS)
            expect(kim.get_by_test_id("stChatInputTextArea")).to_have_count(0)

            # the same reader in a second browser finds their conversation and resumes it
            pat2 = sign_in(browser, app.url, PAT)
            pat2.get_by_test_id("stSidebar").get_by_role("button", name=PAT_Q).click()
            expect(pat2.get_by_test_id("stChatMessage")).to_have_count(2, timeout=WAIT_MS)

            # an admin deletes the reader's history on request
            lee = sign_in(browser, app.url, LEE)
            expect_nav(lee, ["Chat", "Library", "Evaluation", "Admin"])
            lee.get_by_test_id("stSidebarNav").get_by_role("link", name="Admin").click()
            expect(lee.get_by_text("2 conversations of 2 users")).to_be_visible(timeout=WAIT_MS)
            lee.get_by_test_id("stSelectbox").click()
            lee.get_by_role("option", name=PAT).click()
            lee.get_by_text("I understand this cannot be undone").click()
            lee.get_by_role("button", name="Delete this user's history").click()
            expect(lee.get_by_text("Deleted 1 conversations")).to_be_visible(timeout=WAIT_MS)

            pat.goto(app.url)
            expect(pat.get_by_test_id("stSidebar")).to_contain_text(PAT, timeout=WAIT_MS)
            expect(pat.get_by_test_id("stSidebar").get_by_role("button", name=PAT_Q)).to_have_count(0)

            # signing out ends the session's access
            pat.get_by_role("button", name="Sign out").click()
            expect(pat.get_by_role("button", name="Sign in")).to_be_visible(timeout=WAIT_MS)
            browser.close()
    finally:
        app.stop()
    store = Conversations(data_dir)
    assert store.recent(PAT) == [] and [c.title for c in store.recent(SAM)] == [SAM_Q]
    tokens = [e for e in oidc_provider.events if e["at"] == "token"]
    assert len(tokens) == 5 and all(all(e["checks"].values()) for e in tokens)  # every exchange passed PKCE
