"""The exactly-once engine that runs every consumer group: read, map, commit, repeat."""
