"""PHI at rest: AES-256-GCM field envelopes bound to their row, key providers, blind indexes."""
