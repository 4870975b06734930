"""Which runner a config asks for. Ray is imported only when it is the one asked for,
so wakeful installs and runs without it."""

from __future__ import annotations

from wakeful.brain.config import BrainConfig, RunnerKind
from wakeful.brain.local_runner import LocalRunner
from wakeful.brain.runner import OnChange, TurnRunner


def make_runner(config: BrainConfig, on_change: OnChange) -> TurnRunner:
    if config.runner == RunnerKind.RAY:
        from wakeful.brain.ray_runner import RayRunner

        return RayRunner(config, on_change)
    return LocalRunner(config.max_concurrent,
                       config.max_warm if config.keep_warm > 0 else 0)
