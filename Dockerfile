# syntax=docker/dockerfile:1
#
# twitchrelay container image: a static Go binary on distroless, non-root.
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t twitchrelay .
#
# The build flags below are exactly those of the Makefile's `build` target; the test in
# internal/deploytest fails if the two drift apart.
#
# Pinning: the tags below are pinned to a release. For fully reproducible builds pin by digest
# as well, e.g. `FROM golang:1.26.8-bookworm@sha256:<digest> AS build` (get the digest with
# `docker buildx imagetools inspect golang:1.26.8-bookworm`), and let Renovate/Dependabot
# bump it.

# ---- build stage -------------------------------------------------------------------------
# --platform=$BUILDPLATFORM: compile natively and cross-compile to the target (GOOS/GOARCH),
# so `docker buildx build --platform linux/arm64` does not run the compiler under emulation.
FROM --platform=$BUILDPLATFORM golang:1.26.8-bookworm AS build
WORKDIR /src

# Modules first, in their own layer: it is rebuilt only when go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

# Then the source (see .dockerignore for what is left out).
COPY . .

ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/twitchrelay ./cmd/twitchrelay

# ---- final stage -------------------------------------------------------------------------
# distroless/static: no shell, no package manager; CA certificates (for https to Twitch),
# tzdata and /etc/passwd with the `nonroot` user (uid/gid 65532) are included.
FROM gcr.io/distroless/static-debian12:nonroot

ARG VERSION=dev
LABEL org.opencontainers.image.title="twitchrelay" \
      org.opencontainers.image.description="Relays a Twitch streamer's EventSub events live to the browser" \
      org.opencontainers.image.source="https://github.com/twitchrelay/twitchrelay" \
      org.opencontainers.image.documentation="https://github.com/twitchrelay/twitchrelay/blob/main/docs/DEPLOY.md" \
      org.opencontainers.image.version="${VERSION}"

# Templates and static files are embedded in the binary: nothing else to copy.
COPY --from=build /out/twitchrelay /twitchrelay

USER nonroot:nonroot
ENV LISTEN_ADDR=:8080
EXPOSE 8080

# The image has no shell or curl: the binary probes its own /healthz on LISTEN_ADDR.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/twitchrelay", "-healthcheck"]

# SIGTERM starts a graceful shutdown: stop accepting, tell sockets "going away", settle
# subscriptions (bounded by SHUTDOWN_TIMEOUT, 15s by default; give `docker stop -t` more).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/twitchrelay"]
