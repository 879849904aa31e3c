"""Live runtimes: the embedded reference runner, the simulator, importers, (later) Kafka and Faust."""
