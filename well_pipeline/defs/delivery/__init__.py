"""Delivery to Melio email-in: `delivered_bills` and its exactly-once check."""
