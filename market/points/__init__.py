"""Points as people see them: balances, history, admin adjustments, verification, transparency."""
