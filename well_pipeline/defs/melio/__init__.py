"""The Melio side as inputs: the vendor directory and the ledger of existing bills, from CSV exports."""
