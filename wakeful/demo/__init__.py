"""`wakeful demo`: the real service against a local Bot API server and simulated users."""
