# syntax=docker/dockerfile:1
# The flink-monitor image: a release build on Debian 12 (bookworm), run on distroless
# cc-debian12 (glibc, CA certificates, no shell) as the non-root user 65532.
#
#   docker build -t flink-monitor:0.1.0 .
#   docker run --rm -p 8080:8080 flink-monitor:0.1.0 run --kubernetes off --cluster prod=http://jobmanager:8081

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /build

# Dependencies first, against stub sources: this layer is rebuilt only when Cargo.toml or
# Cargo.lock change, not on every source edit.
COPY Cargo.toml Cargo.lock ./
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
# glibc hands freed memory back instead of keeping every burst's peak: a fixed 128 KiB mmap
# threshold (its own grows to the largest block ever freed) and trim threshold
# (docs/performance.md, runs 10 and 15). The chart sets the same (value glibcTunables).
ENV GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072
ENTRYPOINT ["/usr/local/bin/flink-monitor"]
CMD ["run"]
