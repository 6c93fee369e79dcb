"""Residents' personal data: explicit unmasking, self-service export, erasure, log redaction."""
