# backlogd container image: one static binary on scratch, running as an
# unprivileged numeric user, with its state in the /data volume.
#
#   docker build -t backlogd \
#     --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg REVISION=$(git rev-parse HEAD) .
#   docker run -d -p 9464:9464 -v backlogd-data:/data backlogd
#
# The built-in config is configs/container.yaml (listen 0.0.0.0:9464,
# data in /data); mount your own over /etc/backlogd to use your targets.
# scripts/ci-container.sh builds and runs this file with buildah, offline.

# The builder's base image. CI has no registry: it builds a local stand-in
# with this exact name from the machine's Go toolchain and busybox.
ARG GO_IMAGE=docker.io/library/golang:1.26-bookworm

FROM ${GO_IMAGE} AS build
ARG VERSION=dev
ARG REVISION=unknown
# CI points GOPROXY at a read-only copy of its module cache (file://...).
ARG GOPROXY=https://proxy.golang.org,direct
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOPROXY=${GOPROXY}
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.revision=${REVISION}" \
      -o /out/backlogd ./cmd/backlogd
# scratch has no shell: lay out the final filesystem here. /tmp is needed
# by `backlogd demo`; /etc/passwd names the numeric user for tools that
# look it up.
RUN mkdir -p /out/root/etc/backlogd /out/root/etc/ssl/certs /out/root/tmp /out/data \
 && cp configs/container.yaml /out/root/etc/backlogd/backlogd.yaml \
 && cp -R configs/clients /out/root/etc/backlogd/clients \
 && cp /etc/ssl/certs/ca-certificates.crt /out/root/etc/ssl/certs/ca-certificates.crt \
 && echo 'backlogd:x:10001:10001:backlogd:/data:/nonexistent' > /out/root/etc/passwd \
 && echo 'backlogd:x:10001:' > /out/root/etc/group \
 && chmod 1777 /out/root/tmp \
 && /out/backlogd validate --config /out/root/etc/backlogd/backlogd.yaml

FROM scratch
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="backlogd" \
      org.opencontainers.image.description="Keeps one canonical product backlog in sync with every client's tracker, both ways" \
      org.opencontainers.image.source="https://github.com/backlogd/backlogd" \
      org.opencontainers.image.documentation="https://github.com/backlogd/backlogd/blob/main/README.md" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /out/root/ /
COPY --from=build --chown=10001:10001 /out/data /data
COPY --from=build /out/backlogd /backlogd
ENV BACKLOGD_CONFIG=/etc/backlogd/backlogd.yaml
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 9464
# Liveness, not readiness: a tracker being down makes /readyz fail, and
# restarting the container would not fix it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/backlogd", "healthcheck"]
ENTRYPOINT ["/backlogd"]
CMD ["run"]
