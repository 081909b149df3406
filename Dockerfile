# lastmile's container image: one static binary on an empty base.
#
#   docker build -t lastmile:dev --build-arg VERSION=$(git describe --always) .
#   docker run --rm --read-only --tmpfs /var/lib/lastmile \
#     -v "$PWD/apiops:/etc/lastmile/config:ro" -p 8080:8080 lastmile:dev
#
# The build stage is pinned by its Go version, which must be go.mod's (a test,
# deploy/image_test.go, checks it). The image itself is scratch: the binary,
# the CA certificates it trusts for https backends, issuers and Redis, and an
# empty state folder, nothing else: no shell, no package manager, nothing to
# patch or to pin. It runs as UID/GID 65532, and writes only below
# /var/lib/lastmile (mount a volume there; the root filesystem can be
# read-only). No HEALTHCHECK: Docker's runs a command inside the container,
# and there is no command to run but lastmile; Kubernetes ignores HEALTHCHECK
# and probes /status-0123456789abcdef over HTTP (deploy/kubernetes).

FROM --platform=$BUILDPLATFORM golang:1.26.8 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS TARGETARCH
ARG VERSION=dev
# Static (no cgo, so no libc and no interpreter), reproducible (-trimpath),
# cross-compiled for the platform asked for (docker buildx --platform).
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o /out/lastmile ./cmd/lastmile
# The state folder's parent, owned by the user that runs lastmile: a named
# volume mounted there starts as a copy of it. lastmile creates the state
# folder itself, inside, with mode 0700.
RUN install -d -m 0755 -o 65532 -g 65532 /out/var-lib-lastmile

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build --chown=65532:65532 /out/var-lib-lastmile /var/lib/lastmile
COPY --from=build /out/lastmile /lastmile
ENV LASTMILE_CONFIG=/etc/lastmile/config \
    LASTMILE_STATE=/var/lib/lastmile/state
USER 65532:65532
# The data plane and the identity listener (bind it with --identity-listen
# or listeners.identity; its default is loopback only).
EXPOSE 8080 8081
ENTRYPOINT ["/lastmile"]
CMD ["serve"]
