"""Audit controls: one hash-chained record per tool call and webhook delivery, written before the answer."""

from server.audit.decorator import AuditEntry, AuditUnavailable, AuditWriter, audited

__all__ = ["AuditEntry", "AuditUnavailable", "AuditWriter", "audited"]
