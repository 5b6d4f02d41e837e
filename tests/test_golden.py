"""The demo day's digests (every channel kind), follow-ups and report pages
are what they were before delivery moved house (issue 17): compared,
text-normalised, with the golden copy in tests/data/golden (see
tests/golden.py; `python tests/golden.py --write` takes a new one when a
change to what people read is meant)."""

from __future__ import annotations

import golden


def test_the_demo_day_reads_as_the_golden_copy_in_every_channel_and_page(tmp_path):
    got = golden.record(tmp_path)
    # the copy covers what it claims: every channel kind, both cycles, every page
    assert {name.split("/")[0] for name in got} == {"console", "slack", "slack-webhook", "teams", "email", "report"}
    assert any(name.startswith("report/calendars/") for name in got) and "report/index.html" in got
    problems = golden.compare(got)
    assert not problems, "\n\n".join(problems)
