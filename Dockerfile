# The saqshy image: the CLI, the rules and the runtimes. Rules can be mounted over /app/rules/catalog.
FROM python:3.11-slim
# Java 17 runs the Flink JobManager/TaskManager (the apache-flink wheel brings Flink's jars and scripts).
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jre-headless curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas schemas
COPY rules rules
COPY streams streams
COPY jobs jobs
COPY detectors detectors
COPY saqshy saqshy
COPY infra infra
# Editable: the code reads its specs (infra/topics.yaml, infra/clickhouse/*.sql) beside the packages.
RUN pip install --no-cache-dir -e ".[kafka,archive,video,flink]"
# The Flink Kafka connector for apache-flink 2.2 (infra/flink/pom.xml fetches the same jar with Maven).
RUN mkdir -p infra/flink/target/lib && curl -fsSL -o infra/flink/target/lib/flink-sql-connector-kafka-5.0.0-2.2.jar \
    https://repo1.maven.org/maven2/org/apache/flink/flink-sql-connector-kafka/5.0.0-2.2/flink-sql-connector-kafka-5.0.0-2.2.jar
ENTRYPOINT ["saqshy"]
CMD ["--help"]
