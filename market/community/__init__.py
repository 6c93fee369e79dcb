"""Communities: the unit that owns people, activities, a shop and its own points ledger."""
