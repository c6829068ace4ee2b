# stance: build with `docker build -t stance .`, run with `docker run -p 8080:8080 stance`.

# ---- build stage -----------------------------------------------------------------------------
FROM rust:1-slim-bookworm AS build
WORKDIR /src

# Dependencies first, behind dummy sources, so that a source edit rebuilds in seconds.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs README.md \
 && echo 'fn main() {}' > benches/throughput.rs \
 && cargo build --release --locked --bin stance \
 && rm -rf src target/release/stance target/release/deps/stance-* target/release/deps/libstance-* \
           target/release/.fingerprint/stance-*

COPY README.md ./
COPY src ./src
RUN cargo build --release --locked --bin stance \
 && strip target/release/stance

# ---- runtime stage ---------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin stance
COPY --from=build /src/target/release/stance /usr/local/bin/stance
# The shipped default model; mount another folder and set STANCE_MODELS to serve your own.
COPY --chown=10001:10001 models /models
# The off-topic corpus that trains the relevance head, so that `stance train` in the image works
# on an operator's own stance corpus without one of their own (STANCE_OFFTOPIC=none opts out).
COPY offtopic-data /usr/share/stance/offtopic-data
# The calibration set the shipped model's confidences are softened on (calibration-data/README.md),
# found as `stance train`'s default `calibration-data` from the working folder; a corpus with other
# labels trains without it, with a warning (STANCE_CALIBRATION_DATA=none: without it, silently).
COPY calibration-data /usr/share/stance/calibration-data
WORKDIR /usr/share/stance
ENV STANCE_MODELS=/models \
    STANCE_OFFTOPIC=/usr/share/stance/offtopic-data \
    STANCE_BIND=0.0.0.0:8080 \
    STANCE_PROBE_BIND=0.0.0.0:9090 \
    RUST_LOG=info
USER 10001:10001
# 8080: the API; 9090: /healthz, /readyz and /metrics on a thread of their own (probes, scrapes).
EXPOSE 8080 9090
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["stance", "healthcheck"]
CMD ["stance", "serve"]
