"""The Sikka authorization webhook and practice onboarding."""
