"""The vocabulary every connector speaks; it imports only the standard library and pure libraries."""
