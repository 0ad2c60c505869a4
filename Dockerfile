# syntax=docker/dockerfile:1
#
# presign-broker container image.
#
#   docker build -t presign-broker:dev .
#   docker run --rm -p 8080:8080 -v "$PWD/broker.toml:/etc/presign-broker/broker.toml:ro" presign-broker:dev
#
# Stages: chef (toolchain + cargo-chef) -> planner (dependency recipe) -> cacher (dependencies only,
# cached until Cargo.toml/Cargo.lock change) -> builder (the broker itself) -> runtime (distroless).
#
# Toolchain: the lockfile needs rustc >= 1.89 (actix-web 4.18, actix-server 2.10, uuid 1.29 declare
# rust-version 1.89), so the 1.88 of Cargo.toml's rust-version is not enough to build with --locked.
# Every Rust stage derives from `chef`, so all of them use the same compiler (cargo-chef requires it).
# Pin the base images by digest (e.g. with Renovate) when you publish images; tags are used here so
# that the file stays readable.

FROM rust:1.93-slim-bookworm AS chef
# cargo-chef from crates.io, pinned; built once and cached with this layer.
RUN cargo install --locked cargo-chef --version 0.1.78
# Keep symbol names (readable panic backtraces) but drop debug info: a much smaller binary.
# Set here so that dependencies (cacher) and the broker (builder) share one profile fingerprint.
ENV CARGO_PROFILE_RELEASE_STRIP=debuginfo \
    CARGO_TERM_COLOR=never
WORKDIR /app

# 1. planner: reduce the workspace to a recipe (manifests, lockfile, target list).
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json --bin presign-broker

# 2. cacher: build only the dependencies. This layer is reused until the recipe changes.
FROM chef AS cacher
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json --bin presign-broker

# 3. builder: the broker itself, on top of the cached dependencies and registry.
FROM chef AS builder
COPY --from=cacher /app/target target
COPY --from=cacher /usr/local/cargo /usr/local/cargo
COPY . .
RUN cargo build --release --locked --bin presign-broker \
    && ./target/release/presign-broker --version

# 4. runtime: distroless "cc" = glibc + libgcc_s (Rust's std needs both) + CA certificates and tzdata,
# no shell, no package manager. The broker uses rustls with bundled webpki roots: no OpenSSL needed.
# Same Debian 12 as the builder, so the glibc the binary was linked against is there.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
LABEL org.opencontainers.image.title="presign-broker" \
      org.opencontainers.image.description="Short-lived, policy-scoped credentials for direct uploads to object storage" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=builder /app/target/release/presign-broker /usr/local/bin/presign-broker
# The bundled example policies; mount your own over /etc/presign-broker/policies.
COPY policies/ /etc/presign-broker/policies/
# `serve`, `token`, `policy check` and `policy lint` all read the config from here by default,
# so `docker exec <container> presign-broker token --sub alice --role user` needs no --config.
# There is no config in the image: mount one (a missing file stops the broker with an error,
# it never falls back to the development config).
ENV PRESIGN_BROKER_CONFIG=/etc/presign-broker/broker.toml
# 65532 = "nonroot" in distroless; numeric so that runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080
# No HEALTHCHECK: orchestrators probe GET /healthz (liveness) and GET /readyz (readiness).
ENTRYPOINT ["/usr/local/bin/presign-broker"]
CMD ["serve", "--config", "/etc/presign-broker/broker.toml"]
