# ledgerlink: `ledgerlink serve` (API + worker) by default; `ledgerlink worker` or `serve --no-worker`
# for a scaled-out deployment (docs/deploy.md). The TypeScript sources run through tsx, a runtime
# dependency: there is no build step. Not built in CI (no Docker daemon there); test/deploy-files.test.ts
# checks this file against the code instead.
FROM node:20-bookworm-slim

ENV NODE_ENV=production \
    PORT=3000 \
    LEDGERLINK_DATA_DIR=/data

WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY tsconfig.json ./
COPY bin ./bin
COPY migrations ./migrations
COPY src ./src

# The PGlite folder (and its key file) when DATABASE_URL is not set; unused on PostgreSQL.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]

USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

ENTRYPOINT ["node", "--max-semi-space-size=8", "--v8-pool-size=1", "--heap-growing-percent=30", "bin/ledgerlink.js"]
CMD ["serve"]
