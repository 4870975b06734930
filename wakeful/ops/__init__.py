"""Running wakeful as a service: preflight checks, systemd notification, metrics."""
