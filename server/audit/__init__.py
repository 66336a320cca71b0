"""Audit controls: one hash-chained record per tool call and webhook delivery, written before the answer."""
