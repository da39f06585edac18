# The Eye: one image for every role (eye serve --role all|ingest|worker|query).
# Build:  docker build -t the-eye .
# Run:    docker run -p 8000:8000 -v eye-data:/var/lib/eye the-eye
# Checked against the Dockerfile reference by reading; Docker does not run on our build machines.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not rebuild them.
COPY Cargo.toml Cargo.lock ./
COPY crates/eye-types/Cargo.toml crates/eye-types/Cargo.toml
COPY crates/eye-server/Cargo.toml crates/eye-server/Cargo.toml
COPY crates/eye/Cargo.toml crates/eye/Cargo.toml
RUN for crate in eye-types eye-server; do mkdir -p crates/$crate/src && echo "" > crates/$crate/src/lib.rs; done \
 && mkdir -p crates/eye/src && echo "fn main() {}" > crates/eye/src/main.rs \
 && cargo build --release --locked -p eye \
 && rm -rf crates/*/src
COPY crates crates
# Touch the sources so cargo rebuilds the project crates over the placeholders.
RUN find crates -name '*.rs' -exec touch {} + && cargo build --release --locked -p eye

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/eye --create-home eye
COPY --from=build /src/target/release/eye /usr/local/bin/eye
COPY schemas /etc/eye/schemas
USER eye
WORKDIR /var/lib/eye
VOLUME ["/var/lib/eye"]
ENV EYE_DATA_DIR=/var/lib/eye \
    EYE_LISTEN=0.0.0.0:8000 \
    EYE_LOG_FORMAT=json
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["eye", "healthcheck", "--addr", "127.0.0.1:8000"]
ENTRYPOINT ["eye"]
CMD ["serve", "--schemas", "/etc/eye/schemas"]
