"""The Sikka v4 gateway: the only code that talks to Sikka."""
