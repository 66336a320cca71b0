"""Audit controls: one hash-chained record per tool call and webhook delivery, written before the answer."""

from server.audit.record import AuditEntry, AuditUnavailable, AuditWriter

__all__ = ["AuditEntry", "AuditUnavailable", "AuditWriter"]
