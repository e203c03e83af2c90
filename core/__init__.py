"""The shared core: the event contract, settings, errors, logging, the database and Kafka
plumbing that the receiver, the consumer groups and the command line all use. Imports no app."""
