"""Local development services (Kafka and PostgreSQL without Docker) and sample DRIP data."""
