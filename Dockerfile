# gigstack-mcp over Streamable HTTP: slim, non-root, stateless (run N replicas behind any balancer).
#   docker build -t gigstack-mcp .
#   docker run --rm -p 127.0.0.1:8000:8000 \
#     -e GIGSTACK_API_KEY -e GIGSTACK_CONFIRM_SECRET -e GIGSTACK_MCP_AUTH_TOKENS gigstack-mcp
# Listening on 0.0.0.0 it refuses to start without MCP tokens. See docs/http.md and deploy/compose.yaml.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gigstack_mcp ./gigstack_mcp
RUN pip install --no-cache-dir --root-user-action=ignore --prefix=/install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GIGSTACK_TOOL_CACHE=off
COPY --from=build /install /usr/local
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin mcp
USER 10001:10001
EXPOSE 8000
# /healthz needs no token; /readyz also checks that gigstack answers.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
# SIGTERM: stop accepting, let in-flight tool calls finish (GIGSTACK_MCP_SHUTDOWN_TIMEOUT, 30 s), exit.
STOPSIGNAL SIGTERM
ENTRYPOINT ["gigstack-mcp"]
CMD ["--transport", "http", "--host", "0.0.0.0", "--port", "8000", "--stateless"]
