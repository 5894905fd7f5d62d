"""Delivery rules: what to e-mail to Melio, what is already there, and what a person must see (pure)."""
