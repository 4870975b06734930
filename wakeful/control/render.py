"""The state document for people: the supervision tree, then the pool, delivery and journal.

User text (previews) and failure reasons go into `Text` objects, never into markup, so a
message reading "[bold]" is shown as typed. Without a terminal rich prints plain text.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

# The tree lists this many chat actors; --json has them all.
MAX_CHATS_SHOWN = 50
_STATUS_STYLE = {"alive": "green", "restart pending": "yellow", "unresponsive": "bold red",
                 "fenced": "red", "down": "red"}


def render(doc: dict[str, Any]) -> RenderableType:
    return Group(_header(doc), _tree(doc), Text(), _pool(doc), Text(), _outbound(doc),
                 Text(), _poller(doc), Text(), _journal(doc))


def render_text(doc: dict[str, Any], width: int = 120) -> str:
    """Plain text, for the log (SIGUSR1) and anything that is not a terminal."""
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, force_terminal=False,
            highlight=False, emoji=False).print(render(doc))
    return out.getvalue()


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f}s"
    minutes, secs = divmod(int(value), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours < 48 else f"{hours // 24}d{hours % 24:02d}h"


def size(value: int | None) -> str:
    if value is None:
        return "-"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{value} B"


# --- parts ---------------------------------------------------------------------------


def _header(doc: dict[str, Any]) -> RenderableType:
    w = doc["wakeful"]
    line = Text.assemble(("wakeful ", "bold"), str(w.get("version")),
                         f"  pid {w.get('pid')}  up {seconds(w.get('uptime_s'))}",
                         f" (since {w.get('started_at')})",
                         "" if doc.get("previews") else "  previews off")
    lines: list[RenderableType] = [line]
    if w.get("gave_up"):
        lines.append(Text(f"GAVE UP: {w['gave_up']}", style="bold red"))
    abandoned = w.get("abandoned_threads") or {}
    if abandoned.get("alive"):
        lines.append(Text(f"abandoned threads alive: {abandoned['alive']} (limit "
                          f"{abandoned.get('limit')}): {', '.join(abandoned.get('threads', []))}",
                          style="yellow"))
    return Group(*lines)


def _tree(doc: dict[str, Any]) -> RenderableType:
    actors: list[dict[str, Any]] = doc["actors"]
    chats = {f"chat:{c['chat_id']}": c for c in doc["chats"]}
    pool, outbound = doc.get("brain_pool", {}), doc.get("outbound", {})
    extra = {"brain_pool": f"cap {pool.get('cap')}, busy {pool.get('busy')}, "
                           f"waiting {len(pool.get('waiting', []))}",
             "outbound": f"in flight {outbound.get('in_flight')}, waiting "
                         f"{sum((outbound.get('waiting') or {}).values())}",
             "chats": f"{len(doc['chats'])} with work, {doc.get('idle_chats', 0)} idle"}
    nodes: dict[str, Tree] = {}
    top = Tree(Text("supervision tree", style="bold"))
    hidden: dict[str, int] = {}
    shown = 0
    for actor in actors:
        name = actor["name"]
        parent = nodes.get(actor.get("supervisor") or "", top)
        if name.startswith("chat:"):
            if shown >= MAX_CHATS_SHOWN:
                key = actor.get("supervisor") or ""
                hidden[key] = hidden.get(key, 0) + 1
                continue
            shown += 1
        node = parent.add(_actor_label(actor, extra.get(name)))
        nodes[name] = node
        chat = chats.get(name)
        if chat is not None:
            _chat_leaves(node, chat)
    for supervisor, count in hidden.items():
        nodes.get(supervisor, top).add(Text(f"… {count} more chat actors "
                                            "(wakeful state --json lists every one)"))
    return top


def _actor_label(actor: dict[str, Any], extra: str | None) -> Text:
    status = actor["status"]
    text = Text.assemble((actor["name"], "bold"), "  ",
                         (status, _STATUS_STYLE.get(status, "")))
    beat = actor.get("heartbeat_age_s")
    parts = [f"mailbox {_or_dash(actor.get('mailbox'))}",
             "not watched" if beat is None else f"heartbeat {seconds(beat)} ago",
             f"restarts {actor.get('restarts', 0)}"]
    if extra:
        parts.append(extra)
    text.append("  " + " · ".join(parts))
    failure = actor.get("last_failure")
    if failure:
        text.append(f"  last failure {failure['at']}: ", style="yellow")
        text.append(_one_line(failure["reason"], 100))
    return text


def _chat_leaves(node: Tree, chat: dict[str, Any]) -> None:
    line = Text(f"{chat.get('status')} · {chat['queued']} queued behind the turn · "
                f"{chat['owed']} owed an answer")
    if chat.get("session_id"):
        line.append(f" · session {chat['session_id']}")
    if chat.get("turns"):
        line.append(f" · {chat['turns']} turns")
    if chat.get("cost_usd"):
        line.append(f" · ${chat['cost_usd']:.4f} so far")
    node.add(line)
    turn = chat.get("turn")
    if turn:
        turn_node = node.add(_turn_line(turn))
        if turn.get("preview") is not None:
            turn_node.add(Text(repr(turn["preview"]), style="cyan"))
    for preview in chat.get("previews", ()):
        node.add(Text.assemble("queued: ", (repr(preview), "cyan")))


def _turn_line(turn: dict[str, Any]) -> Text:
    state = turn["state"]
    text = Text(f"turn {turn['id']} {state}")
    if state == "running":
        text.append(f" {seconds(turn.get('running_for_s'))} (attempt {turn.get('attempt')}, "
                    f"brain pid {_or_dash(turn.get('brain_pid'))}")
        if turn.get("node"):
            text.append(f" on node {_node(turn['node'])}")
        if turn.get("last_event"):
            text.append(f", last {turn['last_event']} {seconds(turn.get('last_event_age_s'))}"
                        " ago")
        text.append(")")
    elif state == "waiting":
        text.append(f" #{turn.get('position')}")
    text.append(f", asked {seconds(turn.get('age_s'))} ago")
    return text


def _pool(doc: dict[str, Any]) -> RenderableType:
    pool = doc.get("brain_pool", {})
    waiting = pool.get("waiting", [])
    summary = Text.assemble(
        ("brain pool", "bold"),
        f"  cap {pool.get('cap')} · busy {pool.get('busy')} · waiting {len(waiting)}"
        f"{_list(waiting)} · backing off {len(pool.get('backing_off', []))}"
        f"{_list(pool.get('backing_off', []))}",
        "  draining" if pool.get("draining") else "",
        _warm(pool),
        _runner(pool))
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("chat", "turn", "attempt", "node", "brain pid", "running for",
                   "last event", "session"):
        table.add_column(column)
    for r in pool.get("running", []):
        event = (f"{r['last_event']} {seconds(r.get('last_event_age'))} ago"
                 if r.get("last_event") else "-")
        table.add_row(str(r.get("chat")), str(r.get("turn")), str(r.get("attempt")),
                      _node(r.get("node")), _or_dash(r.get("pid")), seconds(r.get("seconds")),
                      event, _or_dash(r.get("session_id")))
    return Group(summary, table) if pool.get("running") else summary


def _warm(pool: dict[str, Any]) -> str:
    """The CLI processes waiting for their chat's next turn (keep_warm), if any."""
    warm = pool.get("warm") or []
    if not warm and not pool.get("warm_starts"):
        return ""
    each = " ".join(f"{w.get('chat')} (pid {_or_dash(w.get('pid'))}, idle "
                    f"{seconds(w.get('idle_seconds'))})" for w in warm)
    return (f"\nwarm {len(warm)}/{pool.get('max_warm')}" + (f": {each}" if each else "")
            + f" · warm starts {pool.get('warm_starts', 0)}, cold {pool.get('cold_starts', 0)}"
            + f" · brain processes {_or_dash(pool.get('processes'))}")


def _runner(pool: dict[str, Any]) -> str:
    """Where turns run: "local", or the Ray cluster's state and each node's slots."""
    kind = pool.get("runner")
    if kind is None or kind == "local":
        return ""
    nodes = " ".join(f"{_node(n.get('node'))}@{n.get('address')} {n.get('busy')}/{n.get('slots')}"
                     for n in pool.get("nodes", []))
    return f"\nrunner {kind} ({pool.get('runner_state')})" + (f" · nodes {nodes}" if nodes else "")


def _node(node_id: str | None) -> str:
    """This machine, or the first characters of a Ray node id (enough to tell them apart)."""
    return "local" if node_id is None else node_id[:8]


def _outbound(doc: dict[str, Any]) -> RenderableType:
    out = doc.get("outbound", {})
    lanes = " · ".join(f"{lane} {count}" for lane, count in (out.get("waiting") or {}).items())
    return Group(
        Text.assemble(("outbound", "bold"), f"  waiting by lane: {lanes or '-'}"),
        Text(f"in flight {_or_dash(out.get('in_flight'))} · answers in delivery "
             f"{_or_dash(out.get('answers_in_delivery'))} · 429s "
             f"{_or_dash(out.get('throttled_429'))} · paused for "
             f"{seconds(out.get('paused_for'))}"),
        Text(f"sent {_counts(out.get('sent'))} · failed {_counts(out.get('failed'))}"),
    )


def _poller(doc: dict[str, Any]) -> RenderableType:
    p = doc.get("poller", {})
    numbers = [("polls", "polls"), ("updates", "updates"), ("admitted", "admitted"),
               ("refused", "refused"), ("flooded", "flooded"), ("ignored", "ignored"),
               ("offset", "offset"),
               ("failures in a row", "consecutive_failures")]
    line = Text.assemble(("poller", "bold"), "  " + " · ".join(
        f"{label} {_or_dash(p.get(key))}" for label, key in numbers))
    if p.get("last_error"):
        line.append("  last error: ", style="yellow")
        line.append(_one_line(str(p["last_error"]), 100))
    return line


def _journal(doc: dict[str, Any]) -> RenderableType:
    j = doc.get("journal", {})
    line = Text.assemble(("journal", "bold"), f"  {j.get('path')} · {size(j.get('bytes'))}"
                         f" ({_or_dash(j.get('bytes'))} bytes, file + -wal) · chats on record "
                         f"{_or_dash(j.get('chats'))} · messages {_counts(j.get('messages'))}")
    if j.get("error"):
        line.append(f"  error: {j['error']}", style="bold red")
    return line


def _counts(counts: dict[str, Any] | None) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted((counts or {}).items())) or "-"


def _list(items: Iterable[Any], at_most: int = 10) -> str:
    items = list(items)
    if not items:
        return ""
    shown = ", ".join(str(i) for i in items[:at_most])
    return f" ({shown}{', …' if len(items) > at_most else ''})"


def _or_dash(value: Any) -> str:
    return "-" if value is None else str(value)


def _one_line(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit] + "…"
