"""Storm benchmark: any version of wakeful, measured from the outside, side by side.

    python -m benchmarks.storms [--storm A|C|all] [--contender working|baseline|all] ...

A local Telegram Bot API server and simulated users live in the benchmark process; each
**contender** is a subprocess that only talks to that server (today: `wakeful run` at a
source tree, the working tree or a git ref). Every figure is taken at the server (what a
user would see, and when) or from /proc, never from the contender's own logs, so versions
that share no code can still be compared in one run on one machine. Nothing asserts.

Modules, one idea each:

* `contenders` — what a contender is (`Contender`, `Setup`, `Launch`) and the one kind we
  have: wakeful at a source tree, including a git ref checked out as a worktree.
* `storms` — the workloads (`Storm`: chats, messages, pacing, brain, limits) and the
  floor the limits and the brain cap allow.
* `processes` — a contender's process from /proc: its own CPU time, its descendants, and
  a stop that leaves nothing behind.
* `measure` — pure: figures from the server's records, the stand-in log and /proc.
* `run` — one storm against one contender, with a deadline.
* `report` — aligned markdown tables and the JSON dump.

Like the other benchmark scripts this package keeps wakeful's imports out of module
level (docs/benchmarks.md: fork-server children import the launching `__main__`).
"""
