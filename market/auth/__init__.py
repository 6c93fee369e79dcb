"""Signing in: secret hashing, sessions and their tokens, the login limiter, guards."""
