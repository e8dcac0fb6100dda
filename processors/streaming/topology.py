"""Which stage reads and writes which topic, and which stages a worker runs.

A worker runs one stage, or several stages that read the same input topic (or the output
of another of them, fed in the process: ``clean+flatten``). ``all`` runs
:data:`ALL_WORKERS` (:data:`TANSU_WORKERS` on Tansu). No Kafka or Quix here: the
supervisor, the bench and the tests read these tables without starting a worker.
"""

from __future__ import annotations

from common.settings import Settings

STAGES: tuple[str, ...] = ("clean", "query_metrics", "compile_metrics", "leaderboard", "flatten")

_OUTPUTS: dict[str, list[str]] = {
    "clean": ["clean", "dead_letters"],
    "query_metrics": ["query_metrics"],
    "compile_metrics": ["compile_metrics"],
    "leaderboard": ["leaderboard"],
    "flatten": ["flattened"],
}
_INPUTS: dict[str, str] = {
    "clean": "raw",
    "query_metrics": "clean",
    "compile_metrics": "clean",
    "leaderboard": "clean",
    "flatten": "clean",
}

#: what ``all`` runs: two workers of about equal CPU per row, so that two cores both work
#: (docs/processors.md, "Topology"); flatten is fed clean's records in the process
ALL_WORKERS: tuple[tuple[str, ...], ...] = (
    ("clean", "flatten"),
    ("query_metrics", "compile_metrics", "leaderboard"),
)
#: what ``all`` runs on Tansu: a process per stage, the topology its tests prove (a fused
#: worker's new group never got partitions there; the broker, not the stages, is the limit
#: on Tansu anyway)
TANSU_WORKERS: tuple[tuple[str, ...], ...] = tuple((st,) for st in STAGES)


def _unknown(stage: str) -> ValueError:
    return ValueError(f"unknown stage {stage!r}: expected one of {', '.join(STAGES)}")


def check_stage(stage: str) -> None:
    """Raise ValueError unless ``stage`` is one of :data:`STAGES`."""
    if stage not in STAGES:
        raise _unknown(stage)


def all_workers(settings: Settings) -> tuple[tuple[str, ...], ...]:
    """What ``all`` runs on this settings' broker (its kind must be known)."""
    return TANSU_WORKERS if settings.on_tansu else ALL_WORKERS


def output_topics(stage: str) -> list[str]:
    """Logical names (``Settings.topic(name)``) of the topics a stage writes."""
    check_stage(stage)
    return list(_OUTPUTS[stage])


def fleet_partials_topic(s: Settings) -> str:
    """query_metrics' private topic: cluster window partials for the fleet roll-up."""
    return s.topic("query_metrics") + ".fleet-partials"


def board_partials_topic(s: Settings) -> str:
    """The leaderboard's private topic: cluster top-k partials for the boards."""
    return s.topic("leaderboard") + ".cluster-partials"


def internal_topics(settings: Settings, stage: str) -> list[str]:
    """Full names of a stage's private topics (re-keying for the fleet / board windows)."""
    if stage == "query_metrics":
        return [fleet_partials_topic(settings)]
    if stage == "leaderboard":
        return [board_partials_topic(settings)]
    return []


def worker_name(stages: tuple[str, ...] | list[str]) -> str:
    """A worker's name on the command line and in logs: its stages joined by +."""
    return "+".join(stages)


def worker_id(stages: tuple[str, ...] | list[str]) -> str:
    """A worker's consumer group suffix and state directory: its stages joined by - (a
    Kafka topic name, which Quix derives from the group, cannot hold +)."""
    return "-".join(stages)


def fed_in_process(stage: str, stages: tuple[str, ...] | list[str]) -> bool:
    """Whether ``stage`` reads the output of another stage of its worker: it is then fed
    that stage's records in the process instead of reading them back from the topic."""
    return any(_INPUTS[stage] in _OUTPUTS[o] for o in stages if o != stage)


def worker_source(stages: tuple[str, ...] | list[str]) -> str:
    """Logical name of the one topic a worker reads."""
    return next(_INPUTS[st] for st in stages if not fed_in_process(st, stages))


def worker_topics(settings: Settings, stages: tuple[str, ...] | list[str]) -> list[str]:
    """Full names of every topic a worker reads or writes (its source first)."""
    names = [settings.topic(worker_source(stages))]
    for st in stages:
        names += [settings.topic(n) for n in output_topics(st)] + internal_topics(settings, st)
    return names


def parse_worker(name: str) -> tuple[str, ...]:
    """``stage`` or ``stage+stage+...`` -> the stages. The stages of a worker read the same
    topic, or the output of another of them (``clean+flatten``: flatten is fed clean's
    records in the process)."""
    stages = tuple(dict.fromkeys(name.split("+")))
    for st in stages:
        check_stage(st)
    if len({_INPUTS[st] for st in stages if not fed_in_process(st, stages)}) != 1:
        raise ValueError(
            f"{name}: stages of one worker must read the same topic (or the output of "
            "another stage of the worker)"
        )
    return stages
