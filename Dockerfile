# The saqshy image: the CLI, the rules and the runtimes. Rules can be mounted over /app/rules/catalog.
FROM python:3.11-slim
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
RUN pip install --no-cache-dir -e ".[kafka,archive,video]"
ENTRYPOINT ["saqshy"]
CMD ["--help"]
