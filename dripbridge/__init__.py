"""drip-bridge: verified DRIP webhooks into Kafka, kept exact in PostgreSQL by consumer groups."""
