"""The GraphQL API at /graphql: queries, mutations and live subscriptions (Strawberry).

Resolvers are one-liners over `api.service.QueueStatusService`, the same
domain service the REST router uses; subscriptions are fed by the process'
one Redis pub/sub connection (`api.broadcast`) through the live mirror
(`live`). `schema.graphql` at the top level is exported from `schema`.
"""
