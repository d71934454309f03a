# The operator's image, for a CI with a container engine. `make image` builds the same image
# without one (hack/image.sh): a statically linked binary on an empty base, run as 65532.
#
#   docker build --build-arg REVISION=$(git rev-parse HEAD) -t spire-steward:0.1.0 .
#
# Pin the builder by digest in your own CI (rust:1.95.0-bookworm@sha256:...).
ARG RUST_IMAGE=rust:1.95.0-bookworm

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
RUN RUSTFLAGS="-C target-feature=+crt-static" cargo build --locked --release \
        --target x86_64-unknown-linux-gnu --bin spire-steward \
    && strip -o /spire-steward target/x86_64-unknown-linux-gnu/release/spire-steward \
    && mkdir -p /rootfs/etc /rootfs/tmp \
    && chmod 1777 /rootfs/tmp \
    && printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >/rootfs/etc/passwd \
    && printf 'root:x:0:\nnonroot:x:65532:\n' >/rootfs/etc/group

FROM scratch
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=https://github.com/spire-steward/spire-steward
LABEL org.opencontainers.image.title="spire-steward" \
      org.opencontainers.image.description="Kubernetes operator that governs SPIRE workload identities" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /rootfs/ /
COPY --from=build /spire-steward /usr/local/bin/spire-steward
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/usr/local/bin/spire-steward"]
CMD ["run"]
