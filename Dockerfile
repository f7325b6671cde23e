# syntax=docker/dockerfile:1
# leadscore: a static binary on a minimal base image.
#   docker build -t leadscore:dev .          (docker compose builds it too)
#   docker run --rm leadscore:dev rules check /etc/leadscore/rules.yaml

# --- build ------------------------------------------------------------------
FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first, so that a code change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# CGO off: a static binary that runs on distroless/static (no libc).
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/leadscore ./cmd/leadscore

# --- run --------------------------------------------------------------------
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/leadscore /usr/local/bin/leadscore
# The example rules; mount your own file over /etc/leadscore/rules.yaml.
COPY examples/rules/ /etc/leadscore/examples/
COPY examples/rules/b2b-saas.yaml /etc/leadscore/rules.yaml
ENV LEADSCORE_RULES=/etc/leadscore/rules.yaml \
    LEADSCORE_HTTP_ADDR=0.0.0.0:8080 \
    LEADSCORE_LOG_FORMAT=json
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/leadscore"]
CMD ["run"]
