"""Alerts: rules admins store in PostgreSQL, evaluated against the live state, delivered
to the `alerts` subscription, the wallboard and webhooks (see the README's "Alerts")."""
