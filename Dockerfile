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
RUN pip install --no-cache-dir ".[kafka,archive]"
ENTRYPOINT ["saqshy"]
CMD ["--help"]
