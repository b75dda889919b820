"""Which links of an email are counted, how they are numbered, and what pointing them at
the counter changes (pure): only the targets of the links, in both parts."""

from __future__ import annotations

from publisher.analytics.links import counted_email, is_countable, links_of
from publisher.mail.rendered import PREFERENCES_URL, UNSUBSCRIBE_URL, RenderedEmail

BASE = "https://news.example.org"
HTML = (f'<a href="https://arxiv.org/abs/1?a=1&amp;b=2">paper</a> '
        f'<a href="mailto:editor@example.org">mail</a> '
        f'<a href="{UNSUBSCRIBE_URL}">unsubscribe</a> <a href="{PREFERENCES_URL}">prefs</a> '
        f'<a href="{BASE}/unsubscribe/abc">old unsubscribe</a> '
        f'<a class="x" href="{BASE}/issues/one/">view</a> '
        '<a href="https://arxiv.org/abs/1?a=1&amp;b=2">again</a> '
        '<link href="https://fonts.example/css"> <img src="https://img.example/a.png">')
TEXT = ("paper [1]\n\n[1] https://arxiv.org/abs/1?a=1&b=2\n"
        "see https://arxiv.org/abs/1?a=1&b=2. and https://elsewhere.example/\n"
        f"{BASE}/issues/one/\n")


def _email() -> RenderedEmail:
    english = RenderedEmail("one", "One", "en", '<a href="https://en.example/">en</a>' + HTML,
                            "https://en.example/\n")
    return RenderedEmail("one", "一", "zh-CN", HTML, TEXT, translations={"en": english})


def test_links_are_numbered_in_order_of_first_appearance_across_editions() -> None:
    assert links_of(_email(), BASE) == ["https://arxiv.org/abs/1?a=1&b=2",
                                        f"{BASE}/issues/one/", "https://en.example/"]


def test_a_readers_own_pages_mailto_and_placeholders_are_never_counted() -> None:
    assert not is_countable("mailto:editor@example.org", BASE)
    assert not is_countable(UNSUBSCRIBE_URL, BASE)
    for path in ("/unsubscribe/t", "/preferences/t", "/confirm/t", "/l/t"):
        assert not is_countable(BASE + path, BASE)
    assert is_countable(BASE + "/issues/one/", BASE)
    assert is_countable("http://other.example/unsubscribe/t", BASE)


def test_pointing_the_links_changes_only_their_targets_in_both_parts() -> None:
    email = _email()
    numbered = dict(enumerate(links_of(email, BASE), start=1))
    counted = counted_email(email, numbered, lambda n: f"{BASE}/l/T{n}")
    assert counted.html == HTML.replace("https://arxiv.org/abs/1?a=1&amp;b=2", f"{BASE}/l/T1") \
        .replace(f'href="{BASE}/issues/one/"', f'href="{BASE}/l/T2"')
    # a URL of the text is pointed only when it is exactly a link (not with a full stop)
    assert counted.text == ("paper [1]\n\n[1] https://news.example.org/l/T1\n"
                            "see https://arxiv.org/abs/1?a=1&b=2. and https://elsewhere.example/\n"
                            f"{BASE}/l/T2\n")
    assert counted.translations["en"].text == f"{BASE}/l/T3\n"
    assert counted_email(email, {}, lambda n: "") is email
