# podvisor as an image: only the static binary (and the licences of what it
# links), for two uses (README.md, "Quick start"):
#   COPY --from=<this image> /podvisor /podvisor       (then ENTRYPOINT it)
#   an init container: args ["install", "/shared/podvisor"] into an emptyDir
# Build: make image (podman build with the version label from VERSION; the
# binary reads the same file), or docker build -t podvisor .

# Every architecture is cross-built on the build machine's own (make image
# builds them all and a manifest list; docs/release.md): the build stage
# runs natively, only the FROM scratch stage is the target's, so no
# emulator is needed.
FROM --platform=$BUILDPLATFORM docker.io/library/debian:bookworm AS build
ARG DEBIAN_FRONTEND=noninteractive
# Set by podman/docker build --platform: amd64, arm64, arm, ppc64le, s390x.
ARG TARGETARCH
RUN apt-get update -qq && \
    apt-get install -y -qq --no-install-recommends gcc libc6-dev make pkg-config musl-tools dpkg-dev m4 \
      cmake curl ca-certificates >/dev/null
WORKDIR /src
# The libraries first, in a layer of their own: they change only with the
# script, not with podvisor's code.
COPY scripts/static-deps.sh scripts/debian-mirror.sh scripts/
# Debian's name for the target, and where the Makefile keeps its build.
RUN case "${TARGETARCH:-$(dpkg --print-architecture)}" in \
      arm) echo armhf ;; ppc64le) echo ppc64el ;; *) echo "${TARGETARCH:-$(dpkg --print-architecture)}" ;; \
    esac >/debarch && \
    if [ "$(cat /debarch)" = "$(dpkg --print-architecture)" ]; then echo build/static; \
    else echo "build/static-$(cat /debarch)"; fi >/staticdir && \
    sh scripts/static-deps.sh "$(cat /staticdir)" "$(cat /debarch)"
COPY Makefile VERSION LICENSE NOTICE ./
COPY scripts/buildinfo.sh scripts/
COPY cmd cmd/
COPY src src/
# No .git in here: the commit --version names comes in as an argument
# (make image passes it).
ARG PODVISOR_COMMIT=unknown
RUN PODVISOR_COMMIT=$PODVISOR_COMMIT make static ARCH="$(cat /debarch)"
# What the binary carries: podvisor's LICENSE and NOTICE, and the licences
# of what it links (scripts/licenses.sh: Debian's copyright file of each
# library and musl's, and the full texts they refer to).
COPY scripts/licenses.sh scripts/
RUN dir=$(cat /staticdir) && sh scripts/licenses.sh "$dir" /out/licenses && \
    cp LICENSE /out/licenses/podvisor.LICENSE && cp NOTICE /out/licenses/podvisor.NOTICE && \
    cp "$dir/build/podvisor" /out/podvisor

FROM scratch
# org.opencontainers.image.version comes from `make image` (see the
# Makefile's image target for why it is not an ARG here).
LABEL org.opencontainers.image.title="podvisor" \
      org.opencontainers.image.description="PID 1 for Kubernetes containers: signals, reaping, graceful drain, probes, ConfigMap reloads" \
      org.opencontainers.image.licenses="Apache-2.0 AND LGPL-2.1-or-later AND (LGPL-3.0-or-later OR GPL-2.0-or-later) AND MIT AND curl AND (Apache-2.0 OR GPL-2.0-or-later)"
COPY --from=build /out/licenses /licenses
COPY --from=build /out/podvisor /podvisor
# The probe server's default port (docs/podvisor.1).
EXPOSE 8099
ENTRYPOINT ["/podvisor"]
