# The podid runtime image: `podid runtime mic` and `podid runtime nmi` (and the CLI). Build from the repository
# root: docker build -t podid-runtime:$(node -p "require('./package.json').version") .
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --ignore-scripts
COPY src ./src
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:20-bookworm-slim
# NMI manages the nat table; the capabilities it needs (NET_ADMIN, NET_RAW) are granted in its manifest only.
RUN apt-get update && apt-get install -y --no-install-recommends iptables && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY templates ./templates
ENV NODE_ENV=production
# MIC can run unprivileged where azure.json is readable; the manifests set runAsUser 0 for AKS's root-only file.
USER 65532:65532
ENTRYPOINT ["node", "/app/bin/podid.js"]
