# syntax=docker/dockerfile:1
# The KULTA operator image: `kulta run` as a static binary on a distroless base, as a non-root
# user, with nothing else in the root filesystem (which the Deployment mounts read-only).
#
#   docker build -t ghcr.io/kulta/kulta:0.1.0 .
#
# The workspace uses rustls with ring, not OpenSSL, so a musl build links fully statically.

ARG RUST_VERSION=1.89

FROM docker.io/library/rust:${RUST_VERSION}-alpine3.22 AS build
# ring and mimalloc compile C; the image's gcc needs musl's headers.
# hadolint ignore=DL3018
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY interpreter ./interpreter
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p kulta-interpreter --bin kulta \
    && cp target/release/kulta /kulta

FROM gcr.io/distroless/static-debian12:nonroot AS runtime
LABEL org.opencontainers.image.title="kulta" \
      org.opencontainers.image.description="KULTA, a progressive delivery controller for Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /kulta /usr/local/bin/kulta
# distroless's `nonroot`, by number so that `runAsNonRoot` can verify it.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/kulta"]
CMD ["run"]
