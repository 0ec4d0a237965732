# podvisor as an image: only the static binary (and the licences of what it
# links), for two uses (README.md, "Quick start"):
#   COPY --from=<this image> /podvisor /podvisor       (then ENTRYPOINT it)
#   an init container: args ["install", "/shared/podvisor"] into an emptyDir
# Build: podman build --pull=never -t podvisor .   (or docker build)

FROM docker.io/library/debian:bookworm AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq && \
    apt-get install -y -qq --no-install-recommends gcc libc6-dev make pkg-config musl-tools dpkg-dev m4 \
      cmake >/dev/null
WORKDIR /src
# The libraries first, in a layer of their own: they change only with the
# script, not with podvisor's code.
COPY scripts/static-deps.sh scripts/
RUN sh scripts/static-deps.sh build/static
COPY Makefile ./
COPY cmd cmd/
COPY src src/
RUN make static
# What the binary carries: Debian's copyright file of each library, and musl's.
RUN mkdir -p /out/licenses && \
    for d in build/static/src/*/debian; do \
      cp "$d/copyright" "/out/licenses/$(basename "$(dirname "$d")").copyright"; \
    done && \
    cp /usr/share/doc/musl/copyright /out/licenses/musl.copyright && \
    cp build/podvisor-static /out/podvisor

FROM scratch
# Given by `make image` from the Makefile, so the label and --version agree.
ARG VERSION=unknown
LABEL org.opencontainers.image.title="podvisor" \
      org.opencontainers.image.description="PID 1 for Kubernetes containers: signals, reaping, graceful drain, probes, ConfigMap reloads" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/licenses /licenses
COPY --from=build /out/podvisor /podvisor
# The probe server's default port (SPEC.md).
EXPOSE 8099
ENTRYPOINT ["/podvisor"]
