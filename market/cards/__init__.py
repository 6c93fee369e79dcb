"""Member codes (rotating, on the phone) and printed member cards (static, revocable); PINs."""
