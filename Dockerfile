# One image with namesrv, broker, mqadmin, console and operator.
#   docker build -t rocketmq-rs:0.1.0 .
# Build stage: the whole workspace in release mode (the Cargo.lock pins every crate).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p namesrv -p broker -p cli -p console -p operator --bins \
 && mkdir -p /out \
 && cp target/release/namesrv target/release/broker target/release/mqadmin target/release/console target/release/operator /out/

# Runtime stage: a small Debian with /bin/sh (the broker entrypoint is a shell script from the
# operator's ConfigMap) and an unprivileged user whose uid the operator's pods run as.
FROM debian:bookworm-slim
RUN groupadd --gid 65532 rocketmq \
 && useradd --uid 65532 --gid 65532 --home-dir /home/rocketmq --create-home --shell /usr/sbin/nologin rocketmq \
 && mkdir -p /data/store /var/run/rocketmq \
 && chown -R 65532:65532 /data /var/run/rocketmq
COPY --from=build /out/ /usr/local/bin/
USER 65532:65532
WORKDIR /home/rocketmq
ENV HOME=/home/rocketmq
# Name server 9876; broker remoting and HA 10911, 10912; operator health 8080; console 8180.
EXPOSE 9876 10911 10912 8080 8180
ENTRYPOINT []
CMD ["/usr/local/bin/operator", "--help"]
