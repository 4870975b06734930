"""Files users send: safe names (names.py), saving at the edge (store.py), settings."""
