# Ferry gateway image: build the TypeScript workspaces, then run on Node 22 LTS.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages ./packages
RUN npm ci --no-audit --no-fund && npx tsc -b && npm prune --omit=dev

FROM node:22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/packages ./packages
COPY config ./config
USER node
EXPOSE 1883 61613 5672 8972
ENTRYPOINT ["node", "packages/gateway/dist/cli.js"]
CMD ["start", "-c", "config/gateway.yaml"]
