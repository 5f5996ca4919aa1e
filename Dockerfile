# Krypton: one image for every component (Core, Registry, CMK Server,
# Gateway and the CLI), chosen by the command.
#
#   docker build -t krypton .
#   docker run --rm --cap-add IPC_LOCK --ulimit memlock=-1 krypton selfcheck
#
# Key memory: every process locks a key arena (2 MiB, KRYPTON_ARENA_BYTES)
# with mlock and refuses to start when it cannot. Give the container
# CAP_IPC_LOCK (docker --cap-add IPC_LOCK, Kubernetes
# securityContext.capabilities.add: [IPC_LOCK]) or a memlock limit of at
# least 2112 KiB (docker --ulimit memlock=-1, compose `ulimits: memlock`).
# Node runs with --secure-heap=65536 (the entrypoint sets it): X25519 private
# keys live in OpenSSL's secure heap.
#
# The build and the staging are scripts/install-krypton.sh, the same script
# .ci/run runs on a host, so these steps are tested without a container
# daemon. Node 24 on Debian 13 (glibc 2.41): the Gateway loads the official
# uWebSockets.js build (KRYPTON_UWS_SOURCE), which needs glibc 2.38 or later.

# --- build: compilers, the whole tree, scripts/install-krypton.sh -> /opt/krypton
FROM node:24-trixie-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ make python3 git ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
ENV KRYPTON_UWS_SOURCE=github:uNetworking/uWebSockets.js#v20.52.0
RUN bash scripts/install-krypton.sh /opt/krypton

# --- runtime: Node and the staged files only, as a user without a shell or a home of value
FROM node:24-trixie-slim
LABEL org.opencontainers.image.title="krypton" \
      org.opencontainers.image.description="Krypton key-management data plane: Core, Registry, CMK Server, Gateway" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.krypton.needs="CAP_IPC_LOCK or RLIMIT_MEMLOCK >= 2112 KiB (the locked key arena)"
COPY --from=build --chown=root:root /opt/krypton /opt/krypton
RUN groupadd --system --gid 10001 krypton \
 && useradd --system --uid 10001 --gid krypton --home-dir /var/lib/krypton --shell /usr/sbin/nologin krypton \
 && install -d -o krypton -g krypton -m 0700 /var/lib/krypton /var/lib/krypton/pki /var/lib/krypton/core
# The Core's malloc settings (CORE_MALLOC_TUNABLES, src/dev/spawn.ts): no
# per-thread cache of freed chunks, and every freed chunk overwritten, so
# nothing of an unseal request stays in freed memory. Harmless elsewhere.
ENV NODE_ENV=production \
    GLIBC_TUNABLES=glibc.malloc.tcache_count=0:glibc.malloc.perturb=165
USER 10001:10001
WORKDIR /var/lib/krypton
# Gateway 7070, Core 7443, Registry 7444, CMK Server 7445; health ports as configured.
EXPOSE 7070 7443 7444 7445
ENTRYPOINT ["node", "--secure-heap=65536", "/opt/krypton/dist/src/cli/main.js"]
CMD ["selfcheck"]
