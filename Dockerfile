# The `hone` program in a container: `hone serve` (REST API and built-in scheduler) by default,
# the database in /data, the backups in /backups. docs/hone/Deployment.md, "Docker".
#
#   docker build -t hone-backup .
#   docker run -d --name hone -v hone-data:/data -v hone-backups:/backups \
#     -e HONE_DB_KEY_FILE=/run/secrets/hone_db_key ... hone-backup
#   docker exec hone /app/hone backup create --dir /backups
#
# Build stage: the project's own set-up (scripts/setup.sh --program) on Debian 12, then only
# the `hone` target. The SQLCipher amalgamation in .cache/ (after scripts/setup.sh) is used as it
# is; without one the set-up fetches it, checked against its published integrity value. Only what
# the build reads is copied, so a change elsewhere (docs, tests) reuses the built layer. The
# release flags of the tests, without debug information (the program is stripped).
FROM debian:bookworm AS build
ARG JOBS=2
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
COPY scripts/setup.sh scripts/setup.sh
RUN scripts/setup.sh --program --packages-only
# .cach[e] may match nothing; setup.sh goes along so that the instruction always has a source.
COPY scripts/setup.sh .cach[e] .cache/
COPY CMakeLists.txt ./
COPY cmake cmake
COPY include include
COPY examples examples
RUN rm .cache/setup.sh \
 && scripts/setup.sh --program \
 && cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHONE_BACKUP_BUILD_TESTS=OFF \
      -DHONE_BACKUP_BUILD_BENCHMARKS=OFF "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -DNDEBUG" \
      "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -DNDEBUG" \
 && cmake --build /build --target hone -j"$JOBS" \
 && cmake --install /build --component hone --prefix /out --strip

# Run stage: Debian 12 slim with the program's runtime libraries only (SQLCipher is linked in);
# curl for the health check.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libargon2-1 libdeflate0 libcurl4 libexpat1 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb /var/log/apt /var/log/dpkg.log \
 && groupadd --system --gid 10001 hone \
 && useradd --system --uid 10001 --gid hone --home-dir /data --no-create-home --shell /usr/sbin/nologin hone \
 && install -d -o hone -g hone -m 0700 /data /backups
COPY --from=build /out/bin/hone /app/hone
ENV HONE_DB_PATH=/data/hone.db \
    HONE_BACKUP_DIR=/backups \
    HOME=/data
VOLUME ["/data", "/backups"]
USER 10001:10001
WORKDIR /data
EXPOSE 3000
# /healthz: 200 while the database opens and the last scheduled cycle succeeded, else 503.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD curl --fail --silent --show-error --max-time 4 --output /dev/null http://127.0.0.1:3000/healthz || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/hone"]
CMD ["serve"]
