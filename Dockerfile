# One image for the collector, the master and the synthetic workload (docker-compose.yml).
# Build stage: the release binaries. Runtime stage: Debian slim, non-root, no toolchain.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY collector collector
COPY master master
COPY demo demo
COPY shared shared
COPY e2e e2e
COPY testbed testbed
COPY config config
RUN cargo build --release --locked --bin collector --bin master --bin demo

FROM debian:bookworm-slim
# curl: for the healthchecks. /certs: the demo TLS volume, owned by the user that writes it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /var/lib/cardinal cardinal \
    && install -d -o cardinal /certs
COPY --from=build /src/target/release/collector /src/target/release/master /src/target/release/demo /usr/local/bin/
COPY config /etc/cardinal
USER cardinal
WORKDIR /var/lib/cardinal
EXPOSE 9090
CMD ["collector", "--config.file=/etc/cardinal/collector.yml", "--storage.tsdb.path=/var/lib/cardinal/data"]
