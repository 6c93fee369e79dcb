"""The audit log: who did which sensitive thing to whom (unmask, erase, reissue, roles, PINs).

A subject names a record ("person:12"), never personal data itself, so the log
can be kept after a person's data is erased.
"""

from datetime import datetime

from market import clock
from market.tables import AuditEntry
from market.writes import Statement


def person_subject(person_id: int) -> str:
    return f"person:{person_id}"


async def record_person_action(
    community_id: int, actor_id: int | None, action: str, person_id: int, *, at: datetime | None = None
) -> None:
    """Append one audit entry; inside the caller's transaction when there is one."""
    await AuditEntry.insert(AuditEntry(
        community=community_id, actor=actor_id, action=action,
        subject=person_subject(person_id), at=at or clock.now(),
    ))


def entry(community_id: int, actor_id: int | None, action: str, subject: str) -> Statement:
    """One audit entry as a statement of a write unit (``market.writes``)."""
    return (
        "INSERT INTO audit_log (community, actor, action, subject, at) VALUES ({}, {}, {}, {}, {})",
        (community_id, actor_id, action, subject, clock.now()),
    )
