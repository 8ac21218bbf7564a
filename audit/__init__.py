"""The access log: durable, tamper-evident record of every journal access and every admin change.

Public API (see ``audit/README.md``): :class:`AccessEvent`, :class:`AdminEvent`, :class:`AccessLog`
(``runtime.audit``), :func:`record_admin_event`, :func:`open_review_task`, :class:`AuditUnavailable`.
"""

from audit.admin import record_admin_event
from audit.errors import AuditUnavailable, EventConflict
from audit.events import AccessEvent, AdminEvent
from audit.log import AccessLog
from audit.review import open_review_task

__all__ = [
    "AccessEvent",
    "AccessLog",
    "AdminEvent",
    "AuditUnavailable",
    "EventConflict",
    "open_review_task",
    "record_admin_event",
]
