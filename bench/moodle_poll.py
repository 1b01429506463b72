"""Calls and time of one completion poll of Moodle, for N open enrolments, against the fake Moodle.

The fake (tests/activities/lms/fake_moodle.py) is a real HTTP server speaking Moodle's REST
protocol; ``--latency-ms`` adds a server-side delay to each call. The site holds ``--courses``
courses, ``--open`` enrolments the integration made that are still open, ``--completed``
long-completed enrolments, and a teacher in every course.

Measured in the same run:

- **tracked** (the poll now): only the open enrolments of the ledger, one status call each,
  in pages, least recently checked first;
- **baseline** (the poll before issue 17): the catalog, then every course's participants,
  then the completion status of every participant (teachers and completed ones included).

Then, from the rate limit and the poll period, how many polls it takes to check every open
enrolment once (the poll spreads over periods instead of overlapping itself).

    .venv/bin/python bench/moodle_poll.py [--open 1000] [--courses 110] [--latency-ms 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "activities" / "lms"))

from fake_moodle import TEACHER, MoodleState, fake_moodle

from activities.lms.completions import (
    CompletionPollActivities,
    PollRequest,
    poll_budget,
    polls_per_cycle,
)
from activities.lms.ledger import EnrollmentLedger, TrackedEnrollment
from activities.lms.moodle import MoodleConfig, MoodleLms, enrollment_id
from activities.lms.port import LmsError
from activities.store.engine import open_engine, session_factory

STATUS = "core_completion_get_course_completion_status"


def build_site(
    courses: int, open_enrolments: int, completed: int
) -> tuple[MoodleState, list[TrackedEnrollment]]:
    """The fake site's state and the ledger's open enrolments."""
    st = MoodleState()
    st.add_course(1, "", "Front page")
    for c in range(courses):
        st.add_course(1000 + c, f"C{c:04}", f"Course {c}")
    tracked: list[TrackedEnrollment] = []
    uid = 10_000
    for i in range(open_enrolments + completed):
        uid += 1
        st.add_user(uid, f"E{i:06}")
        cid = 1000 + i % courses
        st.enrol(cid, uid)
        if i < open_enrolments:
            tracked.append(
                TrackedEnrollment(
                    enrollment_id(cid, uid), f"E{i:06}", f"C{cid - 1000:04}", str(cid), str(uid)
                )
            )
        else:
            st.completed[(cid, uid)] = 1_600_000_000
    for c in range(courses):
        uid += 1
        st.add_user(uid, f"T{c:04}")
        st.enrol(1000 + c, uid, roleid=TEACHER)
    # A few open enrolments completed just now: what the poll should find.
    for t in tracked[:: max(1, open_enrolments // 10)]:
        st.completed[(int(t.external_course), int(t.external_user))] = int(time.time()) - 60
    return st, tracked


def baseline_poll(lms: MoodleLms, since: datetime) -> int:
    """The poll before issue 17: catalog, every course's participants, every status."""
    found = 0
    for course in lms.mapped_courses()[0]:
        cid = int(course["id"])
        users = lms.call(
            "core_enrol_get_enrolled_users",
            courseid=cid,
            options=[{"name": "userfields", "value": "id,idnumber"}],
        )
        for user in users:
            try:
                body = lms.call(STATUS, courseid=cid, userid=int(user["id"]))
            except LmsError:
                continue  # the old code aborted here; counted as if it went on
            status: dict[str, Any] = body["completionstatus"]
            times = [int(c["timecompleted"] or 0) for c in status["completions"]]
            if status["completed"] and datetime.fromtimestamp(max(times), UTC) >= since:
                found += 1
    return found


def main() -> None:
    """Run both polls against one fake site and print calls and seconds of each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=1000, help="open enrolments")
    parser.add_argument("--completed", type=int, default=1000, help="long-completed enrolments")
    parser.add_argument("--courses", type=int, default=110)
    parser.add_argument("--latency-ms", type=float, default=2.0, help="server time per call")
    parser.add_argument("--page-size", type=int, default=50)
    args = parser.parse_args()

    st, tracked = build_site(args.courses, args.open, args.completed)
    st.delay_s = args.latency_ms / 1000
    with tempfile.TemporaryDirectory() as tmp, fake_moodle(st) as (url, _):
        engine = open_engine(f"sqlite:///{Path(tmp) / 'app.db'}")
        sessions = session_factory(engine)
        ledger = EnrollmentLedger(sessions, "moodle")
        for t in tracked:
            ledger.track(t)
        lms = MoodleLms(MoodleConfig(url=url, token=st.token, calls_per_second=0), ledger=ledger)
        poller = CompletionPollActivities(lms, sessions)

        print(
            f"site: {args.courses} courses, {args.open} open enrolments made by talentloop, "
            f"{args.completed} long-completed, {args.courses} teachers; "
            f"{args.latency_ms:g} ms server time per call"
        )
        print(f"{'poll':<10} {'calls':>7} {'seconds':>9} {'found':>6}")
        st.calls.clear()
        started = time.perf_counter()
        polled = poller.poll(PollRequest(page_size=args.page_size))
        tracked_s, tracked_calls = time.perf_counter() - started, len(st.calls)
        print(f"{'tracked':<10} {tracked_calls:>7} {tracked_s:>9.2f} {len(polled.completions):>6}")

        st.calls.clear()
        started = time.perf_counter()
        found = baseline_poll(lms, datetime.now(UTC) - timedelta(days=1))
        base_s, base_calls = time.perf_counter() - started, len(st.calls)
        print(f"{'baseline':<10} {base_calls:>7} {base_s:>9.2f} {found:>6}")
        print(
            f"tracked / baseline: {tracked_calls / base_calls:.2f} of the calls, "
            f"{tracked_s / base_s:.2f} of the time"
        )

        print("\nspreading over poll periods (5 min), open enrolments checked once per cycle:")
        print(f"{'calls/s':>8} {'checks/poll':>12} {'polls/cycle':>12} {'s/poll at rate':>15}")
        for rate in (10.0, 5.0, 2.0, 1.0):
            req = PollRequest(calls_per_second=rate, period_s=300)
            budget = poll_budget(req)
            assert budget is not None
            checks = min(budget, args.open)
            print(
                f"{rate:>8g} {budget:>12} {polls_per_cycle(args.open, budget):>12} "
                f"{checks / rate:>15.0f}"
            )
        engine.dispose()


if __name__ == "__main__":
    main()
