# The reminders image: one image for every role (daemon, worker, migrations, operators' tools).
#   docker build -t renewal-reminders .
#   docker run --rm --env-file .env renewal-reminders migrate
#   docker run -d --env-file .env -e HTTP_HOST=0.0.0.0 -p 8080:8080 renewal-reminders   # start
#   (HTTP_HOST=0.0.0.0 needs a console account first: `docker run -i --rm --env-file .env
#    renewal-reminders users add admin --role admin` with the password on standard input)
# See the README, "Production", for the variables a deployment must set.

# --- build: compile TypeScript to dist/ ---------------------------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts are skipped here only because `prepare` compiles, and the sources are not
# copied yet (this layer is cached while the lockfile is unchanged); the build runs right after.
RUN npm ci --ignore-scripts
COPY . .
RUN npm run build

# --- runtime: production dependencies, compiled code and templates ------------------------------
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` (tsc) must not run here; there are no sources and no TypeScript.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
# Templates are read at run time (TEMPLATES_DIR, default /app/templates); mount a volume over
# this folder to ship edited templates without rebuilding the image.
COPY templates ./templates
# Code stays owned by root and read-only for the service; only the local outbox (used when
# SMTP_URL is empty) is writable.
RUN mkdir -p /app/outbox && chown node:node /app/outbox
USER node

EXPOSE 8080
# slim images have no curl: ask /healthz with Node's fetch. HTTP_HOST=0.0.0.0 (containers) is
# reached through 127.0.0.1. One-shot roles (migrate, scan, demo-data) and `work` serve no
# HTTP: disable the check for them (compose: `healthcheck: { disable: true }`).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const h = process.env.HTTP_HOST; const host = !h || h === '0.0.0.0' || h === '::' ? '127.0.0.1' : h.includes(':') ? '[' + h + ']' : h; fetch('http://' + host + ':' + (process.env.HTTP_PORT || 8080) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1));"]

ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["start"]
