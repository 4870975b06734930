"""Tool approvals, the pure part: what the policy decides, what the chat reads, the buttons."""

from __future__ import annotations

import pytest

from wakeful.conversation import approvals
from wakeful.conversation.approvals import Choice, Decision, Outcome, Press

TOKEN = "123456:AAbbCCddEEffGGhhIIjjKKllMMnn_-oo"


def test_listed_tools_run_unlisted_ones_are_denied_when_approvals_are_off() -> None:
    decide = approvals.decide
    assert decide("Read", approvals=False, allowed_tools=["Read"], always=()) is Decision.ALLOW
    assert decide("Bash", approvals=False, allowed_tools=["Read"], always=()) is Decision.DENY
    # "Always" from an earlier time approvals were on does not outlive turning them off.
    assert decide("Bash", approvals=False, allowed_tools=[], always=["Bash"]) is Decision.DENY


def test_with_approvals_on_an_always_grant_allows_and_anything_else_is_asked() -> None:
    decide = approvals.decide
    assert decide("Read", approvals=True, allowed_tools=["Read"], always=()) is Decision.ALLOW
    assert decide("Bash", approvals=True, allowed_tools=["Read"], always=["Bash"]) \
        is Decision.ALLOW
    assert decide("Bash", approvals=True, allowed_tools=["Read"], always=["Write"]) \
        is Decision.ASK
    # A narrowed entry (only some commands) is the CLI's to check: it asked, so we ask.
    assert decide("Bash", approvals=True, allowed_tools=["Bash(git status:*)"], always=()) \
        is Decision.ASK


def test_the_preview_shows_the_command_short_and_never_a_secret() -> None:
    environ = {"ANTHROPIC_API_KEY": "sk-ant-api03-verysecretvalue", "HOME": "/home/me",
               "GITHUB_TOKEN": "ghp_abcdefghijklmnop", "DB_PASSWORD": "hunter22",
               "MY_SECRET": "xyzzy-plugh", "SHORT_KEY": "ab"}
    redact = approvals.redactor(environ, [TOKEN])
    command = ("curl -H 'x-api-key: sk-ant-api03-verysecretvalue' "
               "https://api.telegram.org/bot" + TOKEN + "/getMe; echo hunter22 ghp_abcdefghijklmnop"
               " xyzzy-plugh /home/me")
    shown = approvals.preview("Bash", {"command": command, "description": "x"}, redact)
    for secret in ("sk-ant-api03-verysecretvalue", TOKEN, TOKEN.split(":")[1], "hunter22",
                   "ghp_abcdefghijklmnop", "xyzzy-plugh"):
        assert secret not in shown
    assert shown.startswith("Bash: curl -H 'x-api-key: ***' https://api.telegram.org/bot***")
    assert "/home/me" in shown  # not a secret: HOME is not named like one


def test_a_long_input_is_cut_after_redaction_so_no_half_secret_is_left() -> None:
    secret = "s3cr3t-value-0123456789"
    redact = approvals.redactor({"API_KEY": secret})
    text = "x" * (approvals.PREVIEW_CHARS - 5) + secret + "y" * 1000
    shown = approvals.preview("Bash", {"command": text}, redact)
    assert secret[:5] not in shown and len(shown) <= len("Bash: ") + approvals.PREVIEW_CHARS + 1
    assert shown.endswith("…")


def test_other_tools_show_their_main_field_or_their_input_as_json() -> None:
    redact = approvals.redactor({})
    assert approvals.preview("Write", {"file_path": "/tmp/a.txt", "content": "hi"}, redact) \
        == "Write: /tmp/a.txt"
    assert approvals.preview("mcp__x__y", {"a": 1, "b": "two"}, redact) \
        == 'mcp__x__y: {"a": 1, "b": "two"}'
    assert approvals.preview("Tool\nwith  newline", {}, redact) == "Tool with newline"


def test_callback_data_is_small_and_round_trips() -> None:
    approval_id = approvals.new_approval_id()
    assert approval_id != approvals.new_approval_id()
    rows = approvals.buttons(approval_id)
    labels = [label for row in rows for label, _ in row]
    assert labels == ["Allow once", "Always in this chat", "Deny"]
    for (_, data), choice in zip([b for row in rows for b in row],
                                 (Choice.ONCE, Choice.ALWAYS, Choice.DENY), strict=True):
        assert len(data.encode()) <= 64
        assert approvals.parse_callback(data) == Press(approval_id, choice)


@pytest.mark.parametrize("data", [None, "", "ap", "ap::o", "ap:id:x", "xx:id:o", "ap:id:o:more",
                                  "ap:" + "a" * 70 + ":o"])
def test_malformed_callback_data_is_none(data: str | None) -> None:
    assert approvals.parse_callback(data) is None


def test_the_words_for_each_outcome() -> None:
    assert approvals.request_text("Bash: ls") == \
        "🔐 Claude wants to run a tool:\nBash: ls\n\nAllow it?"
    assert approvals.outcome_text("Bash: ls", Outcome.ALLOWED, "Ann") == \
        "🔐 Bash: ls\n\n✅ allowed by Ann"
    assert approvals.outcome_text("Bash: ls", Outcome.ALWAYS).endswith(
        "✅ always allowed in this chat")
    assert approvals.outcome_text("Bash: ls", Outcome.DENIED, "Bo").endswith("❌ denied by Bo")
    assert approvals.outcome_text("Bash: ls", Outcome.TIMED_OUT, "x").endswith(
        "⌛ timed out (denied)")
    assert "within 300 s" in approvals.deny_message(Outcome.TIMED_OUT, 300)
    assert approvals.deny_message(Outcome.DENIED, 300) == "The user denied this tool call."
    assert [approvals.allows(o) for o in Outcome] == [True, True, False, False]
