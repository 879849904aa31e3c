"""Kafka I/O with confluent-kafka: settings, topic spec, producers, consumers, the live worker."""
