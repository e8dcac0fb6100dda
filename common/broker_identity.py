"""Which broker is this? Detecting a broker restart that lost its topics.

A Kafka cluster is identified by its cluster id (in every metadata response). A real,
persistent Kafka keeps it across restarts, so components resume from their offsets and
state. The embedded broker keeps topics in memory and loses them on restart; it is started
with a new random cluster id each time (``tansu-embedded-<hex>``, see
:class:`common.broker.EmbeddedBroker`), so its restart is visible.

Whoever keeps offsets or state built from a broker stores the cluster id beside them and,
on start, compares: :func:`decide_offsets` (the materializer: stored offsets in DuckDB) and
:func:`state_is_stale` (a processor's local state). Both are pure functions.

A stored offset beyond a partition's high watermark is a second signal (a topic deleted
and created again on the same cluster). It is exact on real Kafka only: the embedded broker
reports high watermark = base offset of the last batch + 1 (broker-notes), which is below
the log end whenever the last batch held more than one message. There only an empty
partition (high watermark 0) or a missing one proves that messages are gone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

#: prefix of every cluster id the embedded broker uses (Tansu's default is ``tansu_cluster``)
EMBEDDED_PREFIX = "tansu"

README_HINT = "see README 'Broker restarted'"


def is_embedded_cluster(cluster_id: str | None) -> bool:
    """True for a Tansu broker: its high watermarks are not exact."""
    return str(cluster_id or "").startswith(EMBEDDED_PREFIX)


def kind_of_cluster(cluster_id: str | None) -> str:
    """``tansu`` or ``kafka`` from a broker's cluster id (Tansu's are ``tansu*``)."""
    return "tansu" if is_embedded_cluster(cluster_id) else "kafka"


@dataclass(frozen=True)
class StoredOffset:
    """One stored ``next_offset`` and the cluster id of the broker it was consumed from
    (None: stored before cluster ids were recorded)."""

    next_offset: int
    cluster_id: str | None


@dataclass(frozen=True)
class OffsetVerdict:
    """What to do with the stored offsets: resume, or forget some of them (read those
    partitions again from the start; the rows already materialized are kept)."""

    action: Literal["resume", "forget"]
    forget: frozenset[tuple[str, int]] = field(default_factory=frozenset)
    #: the stored cluster ids that differ from the broker's (empty if none)
    other_clusters: tuple[str, ...] = ()
    #: (topic, partition, stored next offset, high watermark or None if missing)
    shorter: tuple[tuple[str, int, int, int | None], ...] = ()

    def message(self, bootstrap: str, cluster_id: str | None) -> str:
        """The one clear message for the log (empty when resuming)."""
        cause = (
            "The embedded broker keeps topics in memory and loses them on restart."
            if is_embedded_cluster(cluster_id)
            else "A persistent broker keeps its cluster id and topics: this is another "
            "cluster, or the topics were deleted and created again."
        )
        if self.action == "resume":
            return ""
        why = []
        if self.other_clusters:
            why.append(
                f"the broker at {bootstrap} is not the one this warehouse consumed from "
                f"(cluster id {', '.join(self.other_clusters)}, now {cluster_id})"
            )
        if self.shorter:
            t, p, off, hw = self.shorter[0]
            more = (
                f" (and {len(self.shorter) - 1} more partitions)" if len(self.shorter) > 1 else ""
            )
            have = "does not exist" if hw is None else f"has {hw}"
            why.append(
                f"topic {t} partition {p}{more} has fewer messages than already materialized "
                f"({have}, {off} materialized)"
            )
        return (
            "broker restarted: " + "; ".join(why) + f". {cause} "
            f"Materialized rows are kept; the stored offsets of {len(self.forget)} partitions "
            "are forgotten and those topics are read again from their start. Replay the "
            "source to continue (with the same run id to complete that run); " + README_HINT + "."
        )


def decide_offsets(
    stored: Mapping[tuple[str, int], StoredOffset],
    cluster_id: str | None,
    high_watermarks: Mapping[tuple[str, int], int | None],
    *,
    exact_watermarks: bool,
) -> OffsetVerdict:
    """Decide whether stored offsets may be resumed on the broker seen now.

    ``stored``: (topic, partition) -> stored offset and its cluster id. ``cluster_id``: the
    broker's cluster id now (None if it did not say). ``high_watermarks``: (topic,
    partition) -> high watermark, None (or absent) when the partition does not exist.
    ``exact_watermarks``: False on the embedded broker (its high watermark can be below the
    log end), where only an empty or missing partition counts as shorter.

    A partition's offset is forgotten when it was consumed from another cluster id, or when
    the partition now holds fewer messages than were consumed from it.
    """
    forget: set[tuple[str, int]] = set()
    others: set[str] = set()
    shorter: list[tuple[str, int, int, int | None]] = []
    for tp, so in sorted(stored.items()):
        if so.cluster_id is not None and cluster_id and so.cluster_id != cluster_id:
            forget.add(tp)
            others.add(so.cluster_id)
            continue
        if so.next_offset <= 0:
            continue
        hw = high_watermarks.get(tp)
        lost = hw is None or (so.next_offset > hw if exact_watermarks else hw == 0)
        if lost:
            forget.add(tp)
            shorter.append((tp[0], tp[1], so.next_offset, hw))
    if not forget:
        return OffsetVerdict("resume")
    return OffsetVerdict("forget", frozenset(forget), tuple(sorted(others)), tuple(shorter))


def state_is_stale(stored_cluster_id: str | None, cluster_id: str | None) -> bool:
    """True when local state was built from another broker (both ids known and different)."""
    return bool(stored_cluster_id) and bool(cluster_id) and stored_cluster_id != cluster_id


def state_message(stage: str, bootstrap: str, stored: str, now: str, path: str) -> str:
    return (
        f"broker restarted: the broker at {bootstrap} is not the one the local state of stage "
        f"{stage} was built from (cluster id {stored}, now {now}): the old topics and state "
        "changelogs are not on it (Tansu keeps them in memory and a Kafka on temporary "
        "storage on disk only until it stops). Discarding "
        f"the local state in {path} and starting fresh; replay the source to continue; "
        + README_HINT
        + "."
    )
