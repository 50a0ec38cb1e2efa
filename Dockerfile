# syntax=docker/dockerfile:1
#
# The qtum-lnd server image: the daemon qtum-lnd, its CLI qtum-ln, qtum-esplora and the backup
# server qtum-backupd, built by scripts/build-daemon.sh (the same script CI builds them with).
#
#   docker build -t qtum-lnd:local .
#   docker compose up -d --build          # with qtumd, qtum-esplora, qtum-backupd: docker-compose.yml
#
# The container runs as the unprivileged user qtumln (uid/gid 10001) and keeps everything in
# /data: the config (rendered from the environment on first start by docker/entrypoint.sh),
# the API password file, the node's database and its mnemonic. A bind-mounted /data must be
# writable by uid 10001. docs/server.md is the operator's guide.

ARG RUST_VERSION=1.89

FROM rust:${RUST_VERSION}-bookworm AS builder
# `patch` applies the Qtum patches to the pinned LDK crates (scripts/patch-deps.sh). Debian
# packages are not pinned: a stable release only gets fixes, and old versions leave the mirrors.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends patch \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The registry and the target directory are build caches (BuildKit), kept between builds of
# this image; the binaries are copied out of them to /out within the same step.
RUN --mount=type=cache,id=qtum-lnd-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=qtum-lnd-target,target=/src/target,sharing=locked \
    bash scripts/build-daemon.sh --profile release /out

FROM debian:bookworm-slim
ARG QTUMLN_UID=10001
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid "${QTUMLN_UID}" qtumln \
 && useradd --system --uid "${QTUMLN_UID}" --gid qtumln --home-dir /data \
      --no-create-home --shell /usr/sbin/nologin qtumln \
 && mkdir -p /data \
 && chown qtumln:qtumln /data \
 && chmod 0700 /data
COPY --from=builder /out/qtum-lnd /out/qtum-ln /out/qtum-esplora /out/qtum-backupd /usr/local/bin/
COPY docker/entrypoint.sh /usr/local/bin/qtum-lnd-entrypoint
COPY docker/qtum-lnd.toml.example /usr/local/share/qtum-lnd/qtum-lnd.toml.example
RUN chmod 0755 /usr/local/bin/qtum-lnd-entrypoint \
 && chmod 0644 /usr/local/share/qtum-lnd/qtum-lnd.toml.example

# In a container the API must listen beyond loopback for a published port to reach it;
# docker-compose.yml publishes it on the host's 127.0.0.1 only.
ENV QTUMLN_DATA_DIR=/data \
    QTUMLN_API_LISTEN=0.0.0.0:8080

# Numeric, so that a runtime can tell it is not root without reading /etc/passwd.
USER ${QTUMLN_UID}:${QTUMLN_UID}
WORKDIR /data
VOLUME /data
# 9735: Lightning peers. 8080: the HTTP+JSON API.
EXPOSE 9735 8080

# Healthy when the API answers getinfo. qtum-ln exits 1 or 2 on failure; Docker wants 1.
HEALTHCHECK --interval=30s --timeout=10s --start-period=2m --retries=3 \
  CMD ["/bin/sh", "-c", "qtum-ln --config /data/qtum-lnd.toml getinfo >/dev/null || exit 1"]

STOPSIGNAL SIGTERM
ENTRYPOINT ["qtum-lnd-entrypoint"]
CMD []
