# syntax=docker/dockerfile:1
#
# One build stage compiles every program as a static binary; each final
# stage holds one of them on a distroless base that runs as a non-root
# user. Build one image with, for example:
#
#   docker build --target gateway -t switchboard-gateway .
#
# docker-compose.yml builds all four.

FROM golang:1.26 AS build
WORKDIR /src
ENV CGO_ENABLED=0
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -buildvcs=false -ldflags="-s -w" -o /out/ \
      ./services/session/cmd/session \
      ./services/registry/cmd/registry \
      ./services/gateway/cmd/gateway \
      ./pkg/cmd/demo-provider

FROM gcr.io/distroless/static-debian12:nonroot AS session
COPY --from=build /out/session /usr/local/bin/session
EXPOSE 7100 7180
ENTRYPOINT ["/usr/local/bin/session"]

FROM gcr.io/distroless/static-debian12:nonroot AS registry
COPY --from=build /out/registry /usr/local/bin/registry
EXPOSE 7200 7280
ENTRYPOINT ["/usr/local/bin/registry"]

FROM gcr.io/distroless/static-debian12:nonroot AS gateway
COPY --from=build /out/gateway /usr/local/bin/gateway
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/gateway"]

FROM gcr.io/distroless/static-debian12:nonroot AS demo-provider
COPY --from=build /out/demo-provider /usr/local/bin/demo-provider
EXPOSE 7300
ENTRYPOINT ["/usr/local/bin/demo-provider"]
