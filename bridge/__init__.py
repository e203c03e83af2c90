"""The webhook receiver: receive, verify, route and publish DRIP events to Kafka.

Pure logic (``signature``, ``ingest``) is kept apart from I/O (``publisher``, ``topics``,
``webhook``, ``app``, ``server``) so the rules can be tested without services.
"""
