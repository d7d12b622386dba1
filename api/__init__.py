"""The API: REST compatibility router, GraphQL, health and metrics over the live state."""
