# Builds the two binaries; the image runs `aidants-connect serve` by default.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --bin aidants-connect --bin fc-sim

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/aidants-connect /src/target/release/fc-sim /usr/local/bin/
WORKDIR /srv
EXPOSE 8000
CMD ["aidants-connect", "serve"]
