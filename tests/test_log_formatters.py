"""Log lines as a person reads them: in an alert, in the reply under a timeline, and behind the Logs button;
read through golden files, and attacked with lines that try to mention, break out or overflow."""

from __future__ import annotations

from bot.gcore.models import LogEntry
from formatters.alerts import render_alert, render_compact_alert
from formatters.logs import LOG_LINE_CHARS, log_line, log_section, render_alert_logs, render_logs
from tests.blockkit import all_text, limit_problems
from tests.test_alert_formatters import CASES
from tests.test_formatters import check_golden


def entry(second: int, message: str, *, pod: str = "my-instance-7f9c-x2x9k", region: int = 1) -> LogEntry:
    return LogEntry(message=message, pod=pod, region_id=region, time=f"2026-11-26T11:59:{second:02d}Z")


# Newest first, as the logs endpoint answers with order_by=time.desc.
LINES = [
    entry(5, "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"),
    entry(4, "Loading weights from /models/llama-3-8b (16 GB)"),
    entry(3, "<!channel> model server starting, ping <@U0BOSS> and @here"),
    entry(2, "Pulled image registry.example/model:v2"),
    entry(1, "Container started"),
]


def test_failing_alert_with_logs_golden() -> None:
    alert = render_alert(CASES["failing"], stuck_after_seconds=900, logs=LINES)
    assert not limit_problems(alert.blocks, alert.text)
    check_golden("alert_failing_logs", {"text": alert.text, "blocks": alert.blocks})


def test_log_lines_are_oldest_first_and_can_mention_no_one() -> None:
    text = all_text(render_alert(CASES["failing"], stuck_after_seconds=900, logs=LINES).blocks)
    order = [text.index(words) for words in ("Container started", "Pulled image", "CUDA out of memory")]
    assert order == sorted(order)
    # Slack parses <!channel> and <@U…> even inside a code block: only their escaped forms may be there.
    assert "<!channel>" not in text and "<@U0BOSS>" not in text and "@here" not in text
    assert "&lt;!channel&gt;" in text and "&lt;@U0BOSS&gt;" in text and "@\u2060here" in text
    assert "11:59:01 Container started" in text


def test_a_line_cannot_close_the_block_span_lines_or_overflow() -> None:
    nasty = LogEntry(message="```\n*bold* <https://evil|click>\u202e\ttab" + "x" * 500, time=None)
    line = log_line(nasty)
    assert "`" not in line and "\n" not in line and "\u202e" not in line and "\t" not in line
    assert "&lt;https://evil|click&gt;" in line
    assert len(line) <= LOG_LINE_CHARS + 20  # the escaped entities may add a little
    block = log_section([nasty])
    assert block is not None and block["text"]["text"].count("```") == 2


def test_the_heading_names_the_region_as_gcore_does_when_the_name_is_known() -> None:
    block = log_section(LINES, {1: "Luxembourg <2>"})
    assert block is not None and "*Last 5 log lines* from Luxembourg &lt;2&gt;," in block["text"]["text"]
    mixed = [entry(2, "b", region=2), entry(1, "a")]
    assert "from" not in render_logs(1, "my-instance", mixed).text


def test_more_pods_than_one_name_each_line_and_one_pod_does_not() -> None:
    one = all_text([log_section(LINES) or {}])
    assert "[my-instance" not in one
    two = all_text([log_section([entry(2, "b", pod="pod-b"), entry(1, "a", pod="pod-a")]) or {}])
    assert "11:59:01 [pod-a] a" in two and "11:59:02 [pod-b] b" in two


def test_compact_alert_has_no_logs_and_an_alert_without_lines_has_no_log_block() -> None:
    compact = render_compact_alert(CASES["failing"], stuck_after_seconds=900)
    assert "CUDA" not in all_text(compact.blocks)
    plain = render_alert(CASES["failing"], stuck_after_seconds=900)
    assert "📜" not in all_text(plain.blocks) and "```" not in all_text(plain.blocks)
    assert log_section([]) is None and render_alert_logs(CASES["failing"], []) is None


def test_the_reply_under_a_timeline_golden() -> None:
    reply = render_alert_logs(CASES["stuck"], LINES)
    assert reply is not None and not limit_problems(reply.blocks, reply.text)
    assert "<!channel>" not in reply.text + all_text(reply.blocks)
    check_golden("alert_logs_reply", {"text": reply.text, "blocks": reply.blocks})


def test_logs_button_golden_and_the_empty_answer() -> None:
    many = [entry(i % 60, f"step {i}: all good", region=7) for i in range(50, 0, -1)]
    shown = render_logs(1, "my-instance", many)
    assert not limit_problems(shown.blocks, shown.text)
    assert "the last 50 log lines from region 7" in shown.text
    check_golden("logs_on_click", {"text": shown.text, "blocks": shown.blocks})
    empty = render_logs(1, "<!channel>", [])
    assert "<!channel>" not in empty.text + all_text(empty.blocks)
    check_golden("logs_on_click_empty", {"text": empty.text, "blocks": empty.blocks})


def test_fifty_lines_of_the_worst_kind_stay_within_slacks_limits() -> None:
    worst = [LogEntry(message="<&>" * 300, pod=f"pod-{i}", time=None) for i in range(50)]
    shown = render_logs(1, "my-instance", worst)
    assert not limit_problems(shown.blocks, shown.text)
    assert all(b["text"]["text"].count("```") == 2 for b in shown.blocks[1:-1])
    assert "did not fit in one message" in all_text(shown.blocks)
    alert = render_alert(CASES["failing"], stuck_after_seconds=900, logs=worst[:20])
    assert not limit_problems(alert.blocks, alert.text)


def test_what_looks_like_a_printed_secret_is_masked() -> None:
    printed = [
        "loading with HF_TOKEN=hf_abcdefgh12345 and DB_PASSWORD: 'pa ss'",
        "calling upstream with Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
        "api_key=sk-live-123456 ready; tokens per second: 42",
    ]
    lines = [log_line(LogEntry(message=text, time="2026-11-26T11:59:01Z")) for text in printed]
    text = "\n".join(lines)
    for secret in ("hf_abcdefgh12345", "pa ss", "eyJhbGciOiJIUzI1NiJ9", "sk-live-123456"):
        assert secret not in text
    assert "HF_TOKEN=••••" in lines[0] and "Bearer ••••" in lines[1] and "api_key=••••" in lines[2]
