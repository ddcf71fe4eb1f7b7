# syntax=docker/dockerfile:1
# Sextant in a container: a static-stdlib release build, run as a non-root user.
#   docker build -t sextant .
#   docker run --rm -p 18000:18000 -p 19000:19000 sextant                       # the embedded Config/
#   docker run --rm -p 18000:18000 -p 19000:19000 sextant serve --consul http://consul:8500 ...
# The build command is the one `make dist` runs (and make test checks) on a Debian machine.

FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libnghttp2-dev libssl-dev zlib1g-dev libcurl4-openssl-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN swift build -c release --static-swift-stdlib --product sextant -Xswiftc -warnings-as-errors \
 && install -D "$(swift build -c release --show-bin-path)/sextant" /out/sextant

FROM debian:bookworm-slim
# What the static binary still links dynamically: OpenSSL, nghttp2, zlib, and libcurl
# (FoundationNetworking); curl itself is only for the health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 libnghttp2-14 zlib1g libcurl4 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/sextant --create-home --shell /usr/sbin/nologin sextant
COPY --from=build /out/sextant /usr/bin/sextant
COPY Config /etc/sextant
USER 10001:10001
WORKDIR /var/lib/sextant
EXPOSE 18000 19000
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD curl -fsS -o /dev/null http://127.0.0.1:19000/readyz || exit 1
ENTRYPOINT ["/usr/bin/sextant"]
CMD ["serve", "--xds", "0.0.0.0:18000", "--admin", "0.0.0.0:19000", \
     "--catalog", "/etc/sextant/catalog.yaml", "--templates", "/etc/sextant/services", \
     "--defaults", "/etc/sextant/defaults.yaml", "--state-dir", "/var/lib/sextant/state"]
