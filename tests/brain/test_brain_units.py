"""The brain's pure parts: timers, retry decisions, outcomes, the command line, status lines."""

from __future__ import annotations

import pytest

from wakeful.actors import status
from wakeful.actors.brain_pool import worth_telling
from wakeful.actors.status import Edit, Send, StatusBoard
from wakeful.brain import command
from wakeful.brain.child import ChildReport
from wakeful.brain.events import ApiRetry, AssistantText, SessionStarted, ToolUse, TurnResult
from wakeful.brain.outcome import NO_TEXT_AFTER_TOOLS, Failure, Outcome, summarize
from wakeful.brain.retry_policy import RetryPolicy, worth_retrying
from wakeful.brain.stream_json import StreamJsonParser
from wakeful.brain.timers import Expiry, TimerLimits, TurnTimers
from wakeful.config import BrainConfig, ConfigError, load
from wakeful.conversation import commands
from wakeful.conversation.commands import Command

LIMITS = TimerLimits(first_event=10, idle=5, budget=100, result_grace=2)


# --- timers ----------------------------------------------------------------------------


def test_a_brain_that_never_gets_going_is_caught_by_the_first_event_timer() -> None:
    timers = TurnTimers(LIMITS, started_at=0.0)
    timers.line(1.0, progress=False)  # the CLI's own init line is not the model at work
    assert timers.expiry() == (10.0, Expiry.NO_FIRST_EVENT)


def test_once_the_model_works_silence_is_measured_from_the_last_line() -> None:
    timers = TurnTimers(LIMITS, started_at=0.0)
    timers.line(3.0, progress=True)
    timers.line(7.0, progress=False)
    assert timers.expiry() == (12.0, Expiry.IDLE)


def test_after_the_result_only_the_grace_and_the_budget_remain() -> None:
    timers = TurnTimers(LIMITS, started_at=0.0)
    timers.line(3.0, progress=True)
    timers.result(4.0)
    assert timers.expiry() == (6.0, Expiry.LINGERED)
    busy = TurnTimers(LIMITS, started_at=0.0)
    for t in range(1, 100, 4):
        busy.line(float(t), progress=True)
    assert busy.expiry() == (100.0, Expiry.BUDGET)


def test_stream_parser_tells_progress_from_the_clis_bookkeeping() -> None:
    parser = StreamJsonParser()
    parser.feed('{"type":"system","subtype":"init","session_id":"s"}')
    parser.feed('{"type":"system","subtype":"status","status":"requesting"}')
    assert (parser.lines, parser.progress_lines) == (2, 0)
    parser.feed('{"type":"system","subtype":"api_retry","attempt":1}')
    parser.feed('{"type":"stream_event","event":{"type":"message_start"}}')
    parser.feed("not json")
    assert (parser.lines, parser.progress_lines, parser.garbage_lines) == (4, 2, 1)


# --- outcomes --------------------------------------------------------------------------


def _report(reason: str = "exited", *, saw_result: bool = True, progressed: bool = True,
            exit_code: int | None = 0, stderr: str = "", garbage: int = 0) -> ChildReport:
    return ChildReport(exit_code, reason, garbage, stderr, saw_result, progressed)


def _result(text: str = "hi", *, is_error: bool = False, status_code: int | None = None,
            session: str = "s1", subtype: str = "success") -> TurnResult:
    return TurnResult(subtype, is_error, text, session_id=session, cost_usd=0.01,
                      api_error_status=status_code)


def test_the_session_kept_is_the_one_the_cli_reported() -> None:
    events = [SessionStarted("s2"), AssistantText("hi"), _result(session="s2")]
    outcome = summarize(events, _report(), 0, LIMITS)
    assert (outcome.ok, outcome.text, outcome.session_id) == (True, "hi", "s2")


def test_a_missing_session_is_recognised_and_its_random_id_is_not_kept() -> None:
    gone = _result("No conversation found with session ID: abc", is_error=True,
                   session="random", subtype="error_during_execution")
    outcome = summarize([gone], _report(exit_code=1, progressed=False), 1, LIMITS)
    assert outcome.failure is Failure.SESSION_MISSING
    assert outcome.session_id is None


def test_killed_after_its_result_the_answer_counts_but_the_session_is_unsafe() -> None:
    events = [SessionStarted("s1"), _result()]
    outcome = summarize(events, _report("lingered", exit_code=-15), -15, LIMITS)
    assert outcome.ok and outcome.session_unsafe


def test_tools_without_a_final_text_still_answer() -> None:
    events = [SessionStarted("s1"), ToolUse("Bash", "t1"), _result("")]
    outcome = summarize(events, _report(), 0, LIMITS)
    assert (outcome.ok, outcome.text, outcome.visible) == (True, NO_TEXT_AFTER_TOOLS, True)


def test_each_timer_has_its_own_words() -> None:
    words = {
        Expiry.NO_FIRST_EVENT: "did not start answering within 10 s",
        Expiry.IDLE: "went silent for 5 s",
        Expiry.BUDGET: "within the 100 s time limit",
    }
    for reason, text in words.items():
        outcome = summarize([SessionStarted("s")],
                            _report(reason.value, saw_result=False, exit_code=-15), -15, LIMITS)
        assert outcome.error is not None and text in outcome.error


# --- retries ---------------------------------------------------------------------------


def _failed(failure: Failure, **kw: object) -> Outcome:
    return Outcome(False, "", failure, "x", **kw)  # type: ignore[arg-type]


def test_only_transient_failures_without_visible_output_are_retried() -> None:
    assert worth_retrying(_failed(Failure.API_ERROR, api_error_status=529))
    assert worth_retrying(_failed(Failure.API_ERROR, api_error_status=500))
    assert worth_retrying(_failed(Failure.EMPTY))
    assert worth_retrying(_failed(Failure.NOT_STARTED)), "its worker never ran"
    assert worth_retrying(_failed(Failure.CRASHED, before_first_event=True))
    assert not worth_retrying(_failed(Failure.CRASHED, before_first_event=False))
    assert not worth_retrying(_failed(Failure.API_ERROR, api_error_status=400)), "user's fault"
    assert not worth_retrying(_failed(Failure.API_ERROR, api_error_status=529, visible=True))
    for never in (Failure.CANCELLED, Failure.IDLE, Failure.BUDGET, Failure.NO_FIRST_EVENT,
                  Failure.ERROR, Failure.SPAWN_FAILED):
        assert not worth_retrying(_failed(never))


def test_retries_back_off_with_jitter_and_stop_at_the_attempt_limit_or_the_budget() -> None:
    policy = RetryPolicy(max_attempts=4, budget=30.0, initial=1.0, maximum=5.0)
    overloaded = _failed(Failure.API_ERROR, api_error_status=529)
    first = policy.delay(overloaded, attempt=1, elapsed=0.0)
    second = policy.delay(overloaded, attempt=2, elapsed=3.0)
    assert first is not None and 1.0 <= first <= 2.0
    assert second is not None and 2.0 <= second <= 3.0
    assert policy.delay(overloaded, attempt=4, elapsed=5.0) is None, "out of attempts"
    assert policy.delay(overloaded, attempt=2, elapsed=28.5) is None, "out of time"
    assert policy.delay(_failed(Failure.IDLE), attempt=1, elapsed=0.0) is None


# --- the command line and environment --------------------------------------------------


def test_one_command_line_for_every_brain_with_the_session_it_resumes() -> None:
    config = BrainConfig(command=("claude",), model="sonnet", allowed_tools=("Read", "Bash"),
                         permission_mode="acceptEdits", extra_args=("--max-budget-usd", "1"))
    argv = command.argv(config, "sess-1")
    assert argv[:9] == ("claude", "-p", "--input-format", "stream-json", "--output-format",
                        "stream-json", "--verbose", "--include-partial-messages",
                        "--replay-user-messages")
    assert argv[9:] == ("--resume", "sess-1", "--model", "sonnet", "--allowedTools", "Read,Bash",
                        "--permission-mode", "acceptEdits", "--max-budget-usd", "1")
    assert "--resume" not in command.argv(config, None)


def test_the_brain_gets_an_empty_environment_plus_the_allowlist() -> None:
    config = BrainConfig(env={"DISABLE_AUTOUPDATER": "1"}, env_passthrough=("PATH", "HOME"))
    service_env = {"PATH": "/bin", "HOME": "/h", "WAKEFUL_TELEGRAM_TOKEN": "123:secret"}
    assert command.environment(config, service_env) == {
        "PATH": "/bin", "HOME": "/h", "DISABLE_AUTOUPDATER": "1"}


def test_each_chat_can_have_its_own_working_directory() -> None:
    assert command.workdir(BrainConfig(workdir="/srv/w/{chat_id}"), 42) == "/srv/w/42"
    assert command.workdir(BrainConfig(), 42) is None


@pytest.mark.parametrize("args", [("--resume", "x"), ("--output-format=json",), ("-p",),
                                  ("--model", "opus"), ("--ok", "--continue")])
def test_reserved_flags_in_extra_args_are_refused_at_config_load(args: tuple[str, ...]) -> None:
    env = {"WAKEFUL_BRAIN_EXTRA_ARGS": " ".join(args)}
    with pytest.raises(ConfigError, match=r"^\[brain\] extra_args must not contain") as err:
        load(None, env)
    assert "\n" not in str(err.value)


def test_brain_timers_must_be_positive() -> None:
    with pytest.raises(ConfigError, match=r"^\[brain\] idle_timeout must be positive$"):
        load(None, {"WAKEFUL_BRAIN_IDLE_TIMEOUT": "0"})
    assert load(None, {"WAKEFUL_BRAIN_EXTRA_ARGS": "--append-system-prompt 'be brief'"}) \
        .brain.extra_args == ("--append-system-prompt", "be brief")


# --- the status message ----------------------------------------------------------------


def test_a_wait_shorter_than_a_second_never_becomes_a_message() -> None:
    board = StatusBoard(first_after=1.0, every=1.5)
    board.open("t", 0.0)
    board.want("t", status.queued(2))
    assert board.next_call(0.5) == 1.0, "look again when the first message would be due"
    board.close("t", status.ANSWERED)
    assert board.next_call(1.0) is None


def test_status_edits_are_spaced_never_repeat_and_end_with_the_outcome() -> None:
    board = StatusBoard(first_after=1.0, every=1.5)
    board.open("t", 0.0)
    board.want("t", "⏳ retry 1/10")
    assert board.next_call(1.0) == Send("t", "⏳ retry 1/10")
    assert board.next_call(1.1) is None, "one call in flight at a time"
    board.shown("t", "⏳ retry 1/10", 77, ok=True, now=1.2)
    board.want("t", "⏳ retry 1/10")
    assert board.next_call(3.0) is None, "the same text is never sent again"
    board.want("t", "⏳ retry 2/10")
    assert board.next_call(2.0) == 2.5
    assert board.next_call(2.5) == Edit("t", 77, "⏳ retry 2/10")
    board.shown("t", "⏳ retry 2/10", 77, ok=True, now=2.6)
    board.close("t", status.ANSWERED)
    assert board.next_call(4.0) == Edit("t", 77, status.ANSWERED)
    board.shown("t", status.ANSWERED, 77, ok=True, now=4.1)
    assert board.next_call(10.0) is None


def test_a_status_message_that_cannot_be_created_is_not_retried_for_that_turn() -> None:
    board = StatusBoard(first_after=0.0, every=1.5)
    board.open("t", 0.0)
    board.want("t", "⏳ queued")
    assert isinstance(board.next_call(0.0), Send)
    board.shown("t", "⏳ queued", None, ok=False, now=0.1, retry_after=5.0)
    board.want("t", "⏳ other")
    assert board.next_call(10.0) is None


def test_a_turn_that_ends_while_its_status_message_is_being_created_asks_to_withdraw_it(
) -> None:
    board = StatusBoard(first_after=0.0, every=1.5)
    board.open("t", 0.0)
    board.want("t", status.queued(35))
    assert board.next_call(0.0) == Send("t", status.queued(35))
    # The answer went out first (a faster lane): the creation is withdrawn, not shown late.
    assert board.close("t", status.ANSWERED) == Send("t", status.queued(35))
    assert not board.idle
    board.shown("t", status.queued(35), None, ok=False, now=0.2)  # it was withdrawn
    assert board.idle and board.next_call(1.0) is None
    # Had Telegram already taken it, it is edited to the outcome instead.
    board.open("u", 2.0)
    board.want("u", status.queued(3))
    assert isinstance(board.next_call(4.0), Send)
    assert board.close("u", status.ANSWERED) is not None
    board.shown("u", status.queued(3), 90, ok=True, now=4.1)
    assert board.next_call(6.0) == Edit("u", 90, status.ANSWERED)
    # A turn whose message exists has nothing to withdraw.
    board.shown("u", status.ANSWERED, 90, ok=True, now=6.1)
    board.open("v", 8.0)
    board.want("v", "⏳ queued")
    assert isinstance(board.next_call(8.0), Send)
    board.shown("v", "⏳ queued", 91, ok=True, now=8.1)
    assert board.close("v", status.ANSWERED) is None


def test_a_line_that_says_when_its_wait_ended_needs_no_closing_edit_unless_forced() -> None:
    board = StatusBoard(first_after=0.0, every=1.0)
    board.open("t", 0.0)
    board.want("t", status.queued(4))
    assert board.next_call(0.0) == Send("t", status.queued(4))
    board.shown("t", status.queued(4), 70, ok=True, now=0.1)
    assert board.age("t", 48.0) == 48.0
    board.want("t", status.started(48.0), settled=True)
    assert board.next_call(2.0) == Edit("t", 70, "▶️ Started after 48 s in line.")
    board.shown("t", status.started(48.0), 70, ok=True, now=2.1)
    board.close("t", status.ANSWERED)
    assert board.next_call(5.0) is None and board.idle, "true for good: no edit"
    # News after the start (an API retry) is present tense: it is closed as usual.
    board.open("u", 10.0)
    board.want("u", status.queued(2))
    assert board.next_call(10.0) == Send("u", status.queued(2))
    board.shown("u", status.queued(2), 71, ok=True, now=10.1)
    board.want("u", status.started(3.0), settled=True)
    board.want("u", "⏳ Claude API overloaded, retry 1/10")
    board.close("u", status.ANSWERED)
    assert board.next_call(12.0) == Edit("u", 71, status.ANSWERED)
    # A stop is always said, even over settled words.
    board.shown("u", status.ANSWERED, 71, ok=True, now=12.1)
    board.open("v", 20.0)
    board.want("v", status.queued(2))
    assert board.next_call(20.0) == Send("v", status.queued(2))
    board.shown("v", status.queued(2), 72, ok=True, now=20.1)
    board.want("v", status.started(3.0), settled=True)
    board.close("v", status.PAUSED, force=True)
    assert board.next_call(22.0) == Edit("v", 72, status.PAUSED)
    assert status.started(125.4) == "▶️ Started after 2 min 5 s in line."


def test_a_waiter_hears_a_new_place_when_it_means_something() -> None:
    assert worth_telling(None, 150)
    assert not worth_telling(150, 120), "30 places closer of 150: not worth an edit"
    assert worth_telling(150, 75)
    assert worth_telling(5, 3) and worth_telling(2, 1), "near the front, every step"
    assert not worth_telling(3, 3) and not worth_telling(3, 4)


def test_commands_are_recognised_with_or_without_the_bot_name() -> None:
    assert commands.is_command("/cancel", Command.CANCEL)
    assert commands.is_command("/cancel@wakeful_bot now", Command.CANCEL)
    assert commands.is_command("/NEW", Command.NEW)
    assert not commands.is_command("/newer", Command.NEW)
    assert commands.parse("please /cancel") is None
    assert commands.parse(None) is None


def test_retry_status_text_names_the_trouble() -> None:
    assert status.api_retrying(ApiRetry(3, 10, 500, "overloaded", 529)) == \
        "⏳ Claude API overloaded, retry 3/10"
    assert status.api_retrying(ApiRetry(2, 10, 500, "rate_limit", 429)) == \
        "⏳ Claude API rate-limited, retry 2/10"
    assert status.api_retrying(ApiRetry(1, None, 500, "unknown", None)) == \
        "⏳ Claude API unreachable, retry 1"
