# hlsd in a container:
#   docker build -t hlsd .
#   docker run --rm -p 8080:8080 hlsd
# The configuration is /etc/hlsd/config.toml (the repository's config.toml; mount another
# file over it to change it). Recordings go to the volume /var/lib/hlsd/recordings.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin hlsd \
 && cp target/release/hlsd /usr/local/bin/hlsd

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/hlsd --create-home hlsd \
 && mkdir -p /var/lib/hlsd/recordings /etc/hlsd \
 && chown hlsd:hlsd /var/lib/hlsd/recordings
COPY --from=build /usr/local/bin/hlsd /usr/local/bin/hlsd
COPY config.toml /etc/hlsd/config.toml
WORKDIR /var/lib/hlsd
VOLUME /var/lib/hlsd/recordings
USER hlsd
# HTTP (ingest and playback), HTTPS, RTMP, SRT.
EXPOSE 8080 8443 1935 9000/udp
# The binary checks itself: slim images have no curl.
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
  CMD ["hlsd", "check", "http://127.0.0.1:8080/healthz", "--timeout", "3"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["hlsd", "--config", "/etc/hlsd/config.toml"]
