"""The owner-only control socket of a running instance and `wakeful state`, its client."""
