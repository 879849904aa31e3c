# syntax=docker/dockerfile:1.7
# Saqshy's images: one build target per service, each with only the extras it needs (pyproject.toml).
#
#   base      the core CLI: rules lint/test, simulate, replay, evaluate               (no extra)
#   worker    saqshy worker, topics, produce, tail                                   (kafka)
#   archiver  saqshy archive, db migrate, map, rules backtest                        (kafka, archive)
#   detector  saqshy detect: OpenCV + onnxruntime, publishing to Kafka               (video, kafka)
#   flink     JobManager, TaskManager and `saqshy flink run`: Java 17 + PyFlink      (flink, kafka)
#
# Dependencies are the exact versions of uv.lock (uv export, with hashes), built into wheels in throw-away stages
# (the compiler stays there: crcmod, a dependency of apache-beam, has no wheel) and installed from those wheels
# with --no-index. The project itself is installed as a wheel, not editable: its data (rule catalog, topic spec,
# migrations, scopes, the simulated city) is package data, so it runs from any directory. Every image runs as
# the non-root user saqshy (uid 10001) with a writable /data.
#
#   docker build --target worker -t saqshy-worker .        # or: docker compose build (docs/deploy.md)

FROM python:3.11-slim-bookworm AS python
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# --- build stages: nothing of them reaches an image but wheels -------------------------------------------------
FROM python AS toolchain
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /src
COPY pyproject.toml uv.lock ./

# The project's own wheel. The context is filtered by .dockerignore (no .venv, build outputs, tests, .git).
FROM toolchain AS project
COPY . .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

# The locked dependencies of each set of extras, as wheels (downloads checked against the lock's hashes).
FROM toolchain AS deps-base
RUN mkdir /wheels \
 && uv export --frozen --no-dev --no-emit-project -o /wheels/requirements.txt \
 && pip wheel --no-cache-dir --no-deps --require-hashes -r /wheels/requirements.txt --wheel-dir /wheels

FROM toolchain AS deps-worker
RUN mkdir /wheels \
 && uv export --frozen --no-dev --no-emit-project --extra kafka -o /wheels/requirements.txt \
 && pip wheel --no-cache-dir --no-deps --require-hashes -r /wheels/requirements.txt --wheel-dir /wheels

FROM toolchain AS deps-archiver
RUN mkdir /wheels \
 && uv export --frozen --no-dev --no-emit-project --extra kafka --extra archive -o /wheels/requirements.txt \
 && pip wheel --no-cache-dir --no-deps --require-hashes -r /wheels/requirements.txt --wheel-dir /wheels

FROM toolchain AS deps-detector
RUN mkdir /wheels \
 && uv export --frozen --no-dev --no-emit-project --extra video --extra kafka -o /wheels/requirements.txt \
 && pip wheel --no-cache-dir --no-deps --require-hashes -r /wheels/requirements.txt --wheel-dir /wheels

FROM toolchain AS deps-flink
RUN mkdir /wheels \
 && uv export --frozen --no-dev --no-emit-project --extra flink --extra kafka -o /wheels/requirements.txt \
 && pip wheel --no-cache-dir --no-deps --require-hashes -r /wheels/requirements.txt --wheel-dir /wheels

# The Kafka connector for Flink 2.2 (the jar infra/flink/pom.xml fetches), checked against its SHA-256.
FROM scratch AS flink-connector
ADD --checksum=sha256:5605c691d11a501382c383fecba37a7a552467da5ab7ba904ef5d6f3d62c5616 \
    https://repo1.maven.org/maven2/org/apache/flink/flink-sql-connector-kafka/5.0.0-2.2/flink-sql-connector-kafka-5.0.0-2.2.jar \
    /connector/

# --- what every image shares ---------------------------------------------------------------------------------
FROM python AS runtime
LABEL org.opencontainers.image.title="saqshy" \
      org.opencontainers.image.description="Event correlation engine for Safe City operations centres" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 saqshy \
 && useradd --system --uid 10001 --gid saqshy --home-dir /app --no-create-home --shell /usr/sbin/nologin saqshy \
 && install -d -o saqshy -g saqshy /app /data
WORKDIR /app
# The catalog as shipped, where docker-compose mounts the operators' copy (./rules/catalog, read-only) over it.
COPY rules/catalog rules/catalog
# Health checks and the replica's stable instance id for docker-compose (standard library only).
COPY --chmod=0755 infra/compose/saqshy_compose.py /usr/local/bin/saqshy-compose
ENTRYPOINT ["saqshy"]
CMD ["--help"]

# --- the images ------------------------------------------------------------------------------------------------
FROM runtime AS base
RUN --mount=type=bind,from=deps-base,source=/wheels,target=/wheels \
    --mount=type=bind,from=project,source=/dist,target=/dist \
    pip install --no-cache-dir --no-index --no-deps /wheels/*.whl /dist/*.whl \
 && pip check \
 && saqshy rules lint --help >/dev/null
USER saqshy

FROM runtime AS worker
RUN --mount=type=bind,from=deps-worker,source=/wheels,target=/wheels \
    --mount=type=bind,from=project,source=/dist,target=/dist \
    pip install --no-cache-dir --no-index --no-deps /wheels/*.whl /dist/*.whl \
 && pip check \
 && saqshy worker --help >/dev/null
EXPOSE 9108
USER saqshy

FROM runtime AS archiver
RUN --mount=type=bind,from=deps-archiver,source=/wheels,target=/wheels \
    --mount=type=bind,from=project,source=/dist,target=/dist \
    pip install --no-cache-dir --no-index --no-deps /wheels/*.whl /dist/*.whl \
 && pip check \
 && saqshy archive --help >/dev/null
USER saqshy

FROM runtime AS detector
RUN --mount=type=bind,from=deps-detector,source=/wheels,target=/wheels \
    --mount=type=bind,from=project,source=/dist,target=/dist \
    pip install --no-cache-dir --no-index --no-deps /wheels/*.whl /dist/*.whl \
 && pip check \
 && saqshy detect --help >/dev/null \
 && install -d -o saqshy -g saqshy /data/snapshots
USER saqshy

FROM runtime AS flink
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*
RUN --mount=type=bind,from=deps-flink,source=/wheels,target=/wheels \
    --mount=type=bind,from=project,source=/dist,target=/dist \
    pip install --no-cache-dir --no-index --no-deps /wheels/*.whl /dist/*.whl \
 && pip check \
 && saqshy flink run --help >/dev/null
COPY --from=flink-connector /connector/ /opt/saqshy/flink/lib/
# flink.sh runs a JobManager or TaskManager in the foreground; the cluster's config is the wheel's conf/ (log4j
# and the rest) with infra/flink/conf/config.yaml over it.
COPY --chmod=0755 infra/flink/flink.sh infra/flink/flink.sh
COPY infra/flink/conf infra/flink/conf
RUN home="$(python -c 'import os, pyflink; print(os.path.dirname(pyflink.__file__))')" \
 && install -d /opt/saqshy/flink/conf \
 && cp "$home"/conf/* /opt/saqshy/flink/conf/ \
 && cp infra/flink/conf/config.yaml /opt/saqshy/flink/conf/config.yaml \
 && install -d -o saqshy -g saqshy /data/flink /data/flink/checkpoints /data/flink/savepoints /tmp/flink-log \
 && java -version
# PYTHON: the interpreter flink.sh and the TaskManagers' thread mode use (saqshy is installed in it).
# PYTHONPATH: embedded_init/sitecustomize.py loads google-re2 once, single-threaded, in each TaskManager's
# embedded interpreter before any operator starts (concurrent first imports hung jobs; jobs/flink/job.py).
ENV PYTHON=python \
    FLINK_CONF_DIR=/opt/saqshy/flink/conf \
    FLINK_LOG_DIR=/tmp/flink-log \
    SAQSHY_FLINK_CONNECTOR_LIB=/opt/saqshy/flink/lib \
    PYTHONPATH=/usr/local/lib/python3.11/site-packages/jobs/flink/embedded_init
EXPOSE 8081 6123 6122
USER saqshy
