"""Consumer groups: each keeps its own PostgreSQL tables exact from the Kafka topics."""
