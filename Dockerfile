# podid's two images, built from the repository root:
#   the runtime image (`podid runtime mic|nmi`, and the CLI), the default target:
#     docker build -t ghcr.io/podid/podid-runtime:$(node -p "require('./package.json').version") .
#   the demo image (`podid runtime demo`: ManagedIdentityCredential, then ARM), which `podid demo` runs:
#     docker build --target demo -t ghcr.io/podid/podid-demo:$(node -p "require('./package.json').version") .
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --ignore-scripts
COPY src ./src
COPY scripts ./scripts
# Type-checks, then bundles the CLI into dist/ (scripts/build.mjs).
RUN npm run build && npm prune --omit=dev

# The application, shared by both images.
FROM node:20-bookworm-slim AS app
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY templates ./templates
ENV NODE_ENV=production
USER 65532:65532

# The demo workload: needs nothing beyond the application, and runs unprivileged.
FROM app AS demo
ENTRYPOINT ["node", "/app/bin/podid.js", "runtime", "demo"]

# The runtime image (last, so the default target).
FROM app AS runtime
USER root
# NMI manages the nat table; the capabilities it needs (NET_ADMIN, NET_RAW) are granted in its manifest only.
RUN apt-get update && apt-get install -y --no-install-recommends iptables && rm -rf /var/lib/apt/lists/*
# MIC can run unprivileged where azure.json is readable; the manifests set runAsUser 0 for AKS's root-only file.
USER 65532:65532
ENTRYPOINT ["node", "/app/bin/podid.js"]
