# syntax=docker/dockerfile:1
# The flink-monitor image: a release build on Debian 12 (bookworm), run on distroless
# cc-debian12 (glibc, CA certificates, no shell) as the non-root user 65532.
#
#   docker build -t flink-monitor:0.1.0 .
#   docker run --rm -p 8080:8080 flink-monitor:0.1.0 run --kubernetes off --cluster prod=http://jobmanager:8081

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /build
# make builds jemalloc (tikv-jemalloc-sys), the allocator of the binary. Not pinned: the
# builder's Debian release fixes it, and it does not end up in the image.
# hadolint ignore=DL3008
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends make && rm -rf /var/lib/apt/lists/*

# Dependencies first, against stub sources: this layer is rebuilt only when Cargo.toml or
# Cargo.lock change, not on every source edit.
COPY Cargo.toml Cargo.lock ./
# jemalloc's build settings (JEMALLOC_SYS_WITH_MALLOC_CONF).
COPY .cargo ./.cargo
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked --bin flink-monitor \
    && rm -rf src

# Then the crate itself. Touch the sources so cargo rebuilds it instead of trusting the
# stubs' fingerprints.
COPY src ./src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin flink-monitor \
    && install -m 0755 target/release/flink-monitor /usr/local/bin/flink-monitor \
    && /usr/local/bin/flink-monitor --version

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /usr/local/bin/flink-monitor /usr/local/bin/flink-monitor
# distroless's nonroot user, numeric so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/flink-monitor"]
CMD ["run"]
