"""PHI at rest: AES-256-GCM field envelopes bound to their row, key providers, blind indexes."""

from server.phi.cipher import Binding, DecryptionFailed, PhiCipher

__all__ = ["Binding", "DecryptionFailed", "PhiCipher"]
