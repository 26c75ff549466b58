"""Debian's `litmus` (the neon WebDAV conformance suite) against the real
server, one test per litmus suite.

A suite passes when litmus reports no FAIL, no SKIPPED (litmus skips the tests
whose set-up failed) and no warning outside `ALLOWED_WARNINGS`.  On failure the
message holds litmus's failing lines and, for each, its part of debug.log
(litmus writes the HTTP traffic there, in the folder it runs in).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import Server
from tests.dav.conftest import need_tool, new_dav_user

SUITES = ["basic", "copymove", "props", "locks", "http"]

# "suite.test_name" -> why the warning is acceptable.  Keep it empty unless a
# warning is a litmus quirk or a deliberate choice that docs/ explains.
ALLOWED_WARNINGS: dict[str, str] = {}

DEBUG_LOG_EXCERPT_CHARS = 6000

# " 3. put_get............... pass" / "18. cond_put_corrupt_token WARNING: ..."
TEST_LINE = re.compile(r"^\s*(\d+)\.\s(\w+)\.*\s?(.*)$")
# "    ...................... pass (with 1 warning)": the end of a test that warned
TAIL_LINE = re.compile(r"^\s+\.+\s(.*)$")
SUMMARY = re.compile(r"<- summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed")


@dataclass
class LitmusTest:
    number: int
    name: str
    result: str = ""  # "pass", "FAIL" or "SKIPPED"; "" if litmus never said
    message: str = ""
    warnings: list[str] = field(default_factory=list)


def parse_litmus(output: str) -> list[LitmusTest]:
    """The tests litmus ran, from its stdout.

    Without a terminal litmus still prints each test's name, then a carriage
    return and the name again with the result; a FAIL's message may go on over
    several lines.
    """
    tests: list[LitmusTest] = []
    current: LitmusTest | None = None
    for line in output.replace("\r", "\n").split("\n"):
        rest: str | None = None
        if m := TEST_LINE.match(line):
            number, name = int(m[1]), m[2]
            if current is None or current.number != number or current.name != name:
                current = LitmusTest(number, name)
                tests.append(current)
            rest = m[3]
        elif current is None:
            continue
        elif m := TAIL_LINE.match(line):
            rest = m[1]
        elif line.startswith("WARNING:"):
            rest = line
        elif current.result == "FAIL" and not line.startswith(("<-", "->", "See debug")):
            current.message += ("\n" + line) if line.strip() else ""
            continue
        if current is not None and rest is not None:
            _take_result(current, rest.strip())
    return tests


def _take_result(test: LitmusTest, text: str) -> None:
    if text.startswith("WARNING:"):
        test.warnings.append(text.removeprefix("WARNING:").strip())
    elif text.startswith("pass"):
        test.result = "pass"
        claimed = re.search(r"with (\d+) warnings?", text)
        while claimed and len(test.warnings) < int(claimed[1]):
            test.warnings.append("(a warning litmus counted but its text was not parsed)")
    elif text.startswith("FAIL"):
        test.result = "FAIL"
        test.message = text.removeprefix("FAIL").strip()
    elif text.startswith("SKIPPED"):
        test.result = "SKIPPED"


def debug_log_excerpt(log: Path, test: LitmusTest) -> str:
    """The traffic of one test: debug.log from its "Running test N" header to the next."""
    if not log.exists():
        return "(no debug.log)"
    text = log.read_text(errors="replace")
    start = text.find(f"******* Running test {test.number}: {test.name} ")
    if start < 0:
        return "(test not found in debug.log)"
    end = text.find("******* Running test", start + 1)
    section = text[start:end if end >= 0 else len(text)]
    if len(section) > DEBUG_LOG_EXCERPT_CHARS:
        section = "[...]\n" + section[-DEBUG_LOG_EXCERPT_CHARS:]
    return section


def problems(suite: str, tests: list[LitmusTest]) -> list[tuple[LitmusTest, str]]:
    found: list[tuple[LitmusTest, str]] = []
    for t in tests:
        if t.result == "FAIL":
            found.append((t, f"FAIL {t.message}"))
        elif t.result == "SKIPPED":
            found.append((t, "SKIPPED (a test it needs failed)"))
        elif t.result != "pass":
            found.append((t, "no result (litmus stopped here)"))
        found += [(t, f"unexpected WARNING: {w}") for w in t.warnings
                  if f"{suite}.{t.name}" not in ALLOWED_WARNINGS]
    return found


@pytest.mark.parametrize("suite", SUITES)
def test_litmus_suite(suite: str, server: Server, tmp_path: Path) -> None:
    litmus = need_tool("litmus", "litmus")
    user = new_dav_user(server)
    result = subprocess.run(
        [litmus, user.url, user.name, user.password],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "TESTS": suite},
    )
    output = result.stdout + result.stderr
    tests = parse_litmus(output)
    found = problems(suite, tests)
    summary = SUMMARY.search(output)
    if found:
        log = tmp_path / "debug.log"
        report = "\n\n".join(
            f"{suite} {t.number}. {t.name}: {why}\n--- debug.log ---\n{debug_log_excerpt(log, t)}"
            for t, why in found)
        pytest.fail(f"litmus {suite}: {len(found)} problem(s)\n\n{report}", pytrace=False)
    assert summary is not None and summary[1] == suite and summary[4] == "0", output
    assert result.returncode == 0, output
    assert len(tests) == int(summary[2]), output


# --- the parser, on litmus's real output ----------------------------------------

SAMPLE = (
    "-> running `locks':\n"
    "\r 0. init..................\r 0. init.................. pass\n"
    "\r11. owner_modify..........\r11. owner_modify.......... FAIL (PROPPATCH on locked"
    " resouce on `/litmus/lockme': http://127.0.0.1:1/litmus/lockme: 403 Forbidden\n)\n"
    "\r18. cond_put_corrupt_token\r18. cond_put_corrupt_token WARNING: PUT failed with 412"
    " not 423\n    ...................... pass (with 1 warning)\n"
    "\r20. fail_complex_cond_put.\r20. fail_complex_cond_put. pass\n"
    "\r24. notowner_modify.......\r24. notowner_modify....... SKIPPED\n"
    "-> 1 tests were skipped.\n"
    "<- summary for `locks': of 5 tests run: 3 passed, 1 failed. 75.0%\n"
)


def test_parse_litmus_output() -> None:
    tests = parse_litmus(SAMPLE)
    assert [(t.number, t.name, t.result) for t in tests] == [
        (0, "init", "pass"), (11, "owner_modify", "FAIL"),
        (18, "cond_put_corrupt_token", "pass"), (20, "fail_complex_cond_put", "pass"),
        (24, "notowner_modify", "SKIPPED")]
    assert "403 Forbidden" in tests[1].message and tests[1].message.endswith(")")
    assert tests[2].warnings == ["PUT failed with 412 not 423"]
    assert [why for _, why in problems("locks", tests)] == [
        f"FAIL {tests[1].message}", "unexpected WARNING: PUT failed with 412 not 423",
        "SKIPPED (a test it needs failed)"]
