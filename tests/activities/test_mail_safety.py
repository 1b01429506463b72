"""Notification emails stay well-formed whatever names, course titles and comments hold.

Hostile or careless text (HTML, newlines, header-like lines, encoded-word lookalikes, very long
words) is escaped in the HTML part, never reaches a header as a line break, and the Subject and
To headers read back exactly as meant.
"""

from __future__ import annotations

import email
import email.policy
from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities.mail.activities import MailActivities
from activities.mail.render import MailRenderer
from schemas.learning import Employee, EnrolledCourse, NoticeRequest, Recipient

INJECTED = "<x-inj onload='alert(1)'>"
TEMPLATES = ["enrollment", "approval_request", "reminder", "overdue_escalation", "completed"]
HEADERS = {
    "From",
    "To",
    "Subject",
    "Message-ID",
    "Date",
    "X-Talentloop-Key",
    "Content-Language",
    "Content-Type",
    "MIME-Version",
}

pieces = st.sampled_from(
    [
        INJECTED,
        "<script>alert('x')</script>",
        "&amp; &lt;",
        '"quoted"',
        "\r\nBcc: victim@example.com",
        "\nSubject: spoofed",
        "\r",
        "\n\n",
        "=?utf-8?q?Urgent=21?=",
        "Grüße, 日本語 ",
        "x" * 1200,
        "word " * 60,
        "\u2028",
        "\x0b\x0c",
        " ",
        "Ada",
    ]
)
hostile = st.lists(st.one_of(pieces, st.text(max_size=30)), min_size=1, max_size=6).map("".join)


def notice(template: str, name: str, title: str, reason: str, manager: str) -> NoticeRequest:
    course = EnrolledCourse(
        course_id="c-1", title=title, hours=4.0, due=date(2027, 1, 31), reason=reason
    )
    employee = Employee(
        id="E00042",
        name=name,
        email="e00042@example.com",
        role_id="15-1252.00",
        role_title=title,
        manager_id="E00007",
        manager_name=manager,
        manager_email="m@example.com",
    )
    return NoticeRequest(
        dedupe_key=f"E00042:{template}:c-1:1",
        template=template,
        to=Recipient(id="E00042", name=name, email="e00042@example.com"),
        employee=employee,
        courses=[course],
        pending=[course],
        uncoverable=[reason],
        facts={
            "days_left": "3",
            "respond_by": reason,
            "next_step": reason,
            "closed": reason,
            "remaining": reason,
        },
    )


def mailer() -> MailActivities:
    sessions: Any = None  # `build` touches neither the outbox nor SMTP
    return MailActivities(sessions, sender=None, renderer=MailRenderer(), mail_from="t <t@x.io>")  # type: ignore[arg-type]


MAILER = mailer()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    template=st.sampled_from(TEMPLATES),
    name=hostile,
    title=hostile,
    reason=hostile,
    manager=hostile,
)
def test_hostile_text_never_breaks_the_headers_or_the_html(
    template: str, name: str, title: str, reason: str, manager: str
) -> None:
    req = notice(template, name, title, reason, manager)
    msg = MAILER.build(req, "<abc@talentloop>")
    wire = msg.as_bytes()
    head = wire.split(b"\n\n", 1)[0]

    # No header line is more than a header or its folded continuation; none too long.
    for line in head.split(b"\n"):
        assert b"\r" not in line.rstrip(b"\r"), line
        assert len(line) <= 998, len(line)
        assert line[:1] in (b" ", b"\t") or b":" in line, line
    parsed = email.message_from_bytes(wire, policy=email.policy.default)
    assert set(parsed.keys()) == HEADERS, set(parsed.keys()) ^ HEADERS
    assert all(len(parsed.get_all(h) or []) == 1 for h in HEADERS)
    assert parsed["To"] == "e00042@example.com"

    # The Subject reads back as the template meant it, on one line.
    rendered = MAILER._renderer.render(template, _context(req), "en")
    assert "\n" not in rendered.subject and "\r" not in rendered.subject
    assert str(parsed["Subject"]) == rendered.subject

    # The HTML part escapes everything the text carried.
    html = parsed.get_body(preferencelist=("html",))
    assert html is not None
    body = html.get_content()
    assert "<x-inj" not in body and "<script>" not in body
    plain = parsed.get_body(preferencelist=("plain",))
    assert plain is not None and plain.get_content()


def _context(req: NoticeRequest) -> dict[str, Any]:
    return {
        "employee": req.employee,
        "to": req.to,
        "courses": req.courses,
        "pending": req.pending,
        "uncoverable": req.uncoverable,
        "facts": req.facts,
        "links": None,
    }


addresses = st.one_of(
    st.emails(),
    st.builds(
        lambda local, tail: f"{local}@example.com{tail}",
        st.text(min_size=1, max_size=20),
        st.sampled_from(["", "\r\nBcc: victim@example.com", ", other@example.com", "\n", " x"]),
    ),
    st.sampled_from(
        [
            "Ada <ada@example.com>",
            '"a,b"@example.com',
            "ada@example.com\r\nBcc: victim@example.com",
            "ada@exämple.com",
            "ädä@example.com",
        ]
    ),
)


@settings(max_examples=100, deadline=None)
@given(address=addresses)
def test_the_recipient_address_is_one_address_or_refused_without_quoting_it(
    address: str,
) -> None:
    req = notice("enrollment", "Ada", "Listening", "why", "Bo")
    req = req.model_copy(update={"to": Recipient(id="E00042", name="Ada", email=address)})
    try:
        msg = MAILER.build(req, "<abc@talentloop>")
    except ValueError as err:
        assert "E00042" in str(err) and address not in str(err)
        return
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert set(parsed.keys()) == HEADERS
    (only,) = parsed["To"].addresses
    assert str(parsed["To"]).isascii() and not only.display_name
    local, _, domain = address.rpartition("@")
    assert only.username == local
    assert (
        only.domain.encode().decode("idna").lower() == domain.encode("idna").decode("idna").lower()
    )
