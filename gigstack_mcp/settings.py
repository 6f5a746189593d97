"""Settings from the environment (GIGSTACK_*) and the command line, in one model."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_URL = "https://api.gigstack.io/v2"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GIGSTACK_", extra="ignore")

    api_key: SecretStr | None = Field(None, description="gigstack API key; none starts the embedded sandbox.")
    api_url: str = Field(DEFAULT_API_URL, description="gigstack API base URL, ending in /v2.")
    team: str | None = Field(None, description="Default gigstack Connect team for every call.")
    sandbox: bool = Field(False, description="Force the embedded sandbox even if a key is set.")
    timeout: float = Field(30.0, gt=0, description="Per-request timeout in seconds.")
    connect_timeout: float = Field(5.0, gt=0)
    max_retries: int = Field(4, ge=0, le=10, description="Retries on 429/5xx/connection errors.")
    retry_wait_initial: float = Field(0.25, ge=0)
    retry_wait_max: float = Field(8.0, ge=0)
    retry_timeout: float = Field(60.0, gt=0, description="Total time budget for one call with retries.")
    max_response_bytes: int = Field(10_000_000, ge=10_000, description="Largest gigstack answer read.")
    max_json_depth: int = Field(64, ge=8, le=500, description="Deepest JSON nesting accepted from gigstack.")
    idempotency_window: float = Field(
        900.0, ge=0, description="Seconds a create with an unknown outcome keeps its key for a repeat."
    )
    file_hosts: str = Field(
        "storage.gigstack.io",
        description="Hosts get_invoice_files may download from (https; `*.host` for subdomains, "
        "`http://host:port` for one exact origin), comma-separated.",
    )
    max_file_bytes: int = Field(200_000, ge=1_000, description="Largest XML/PDF returned inline.")
    toolsets: str = Field("default", description="Comma-separated toolsets, 'all' or 'default'.")
    tools: str = Field("", description="Extra single tools to enable, comma-separated.")
    exclude_tools: str = Field("", description="Tools to drop, comma-separated.")
    read_only: bool = Field(False, description="Register only read-only tools.")
    require_preview: bool = Field(False, description="Invoices may only be created from a previewed payload.")
    confirm_secret: SecretStr | None = Field(
        None, description="HMAC secret for confirmation tokens; share it across replicas."
    )
    confirm_ttl: int = Field(300, gt=0, description="Seconds a confirmation token stays valid.")
    mcp_redis_url: SecretStr | None = Field(
        None, description="Redis for spent confirmations and spend caps; share it across replicas."
    )
    max_result_chars: int = Field(20_000, ge=1_000, description="Cap on one tool result's text.")
    sandbox_db: str | None = Field(None, description="SQLite file that keeps sandbox state across restarts.")
    # HTTP transport (gigstack_mcp/http/); env GIGSTACK_MCP_*
    mcp_auth_tokens: SecretStr | None = Field(
        None,
        description="Comma-separated MCP bearer tokens, each `token` or `token=api_key[:team[|team...]]`.",
    )
    mcp_auth_tokens_file: str | None = Field(None, description="File with one token entry per line.")
    mcp_stateless: bool = Field(False, description="No per-session state: replicas behind any balancer.")
    mcp_allowed_hosts: str = Field("", description="Extra allowed Host values (comma-separated, host:*).")
    mcp_allowed_origins: str = Field("", description="Allowed browser Origins (comma-separated).")
    mcp_rate_limit: str = Field("20/s", description="Per-token limit on tool calls: N/s, N/m or 'off'.")
    mcp_auth_fail_limit: str = Field(
        "20/m", description="Failed authentications (401) per client address before 429: N/m or 'off'."
    )
    mcp_trusted_proxies: str = Field(
        "", description="Proxies (addresses/CIDRs, comma-separated) whose X-Forwarded-For is believed."
    )
    mcp_max_sessions: int = Field(10_000, ge=0, description="Open stateful sessions in all (0: no cap).")
    mcp_max_sessions_per_token: int = Field(
        500, ge=0, description="Open stateful sessions per token or OAuth principal (0: no cap)."
    )
    mcp_max_body: str = Field("1MB", description="Largest accepted request body (bytes, KB or MB).")
    mcp_shutdown_timeout: float = Field(30.0, ge=0, description="Seconds in-flight calls get on shutdown.")
    # OAuth resource-server mode (gigstack_mcp/oauth.py, docs/http.md)
    mcp_public_url: str | None = Field(None, description="Public URL of /mcp (the OAuth resource).")
    mcp_oauth_issuer: str | None = Field(None, description="Authorization server (issuer) URL.")
    mcp_oauth_introspection_url: str | None = Field(None, description="Its RFC 7662 introspection URL.")
    mcp_oauth_client_id: str | None = Field(None, description="Our client id at the introspection URL.")
    mcp_oauth_client_secret: SecretStr | None = Field(None, description="Its secret.")
    mcp_oauth_scopes: str = Field("", description="Scopes a token must carry (space or comma separated).")
    mcp_oauth_accounts: SecretStr | None = Field(
        None,
        description="OAuth caller -> gigstack account: `sub:NAME=api_key:team` or `client:NAME=...`, "
        "comma-separated; `*=` for any.",
    )

    # Spend policy and audit trail (gigstack_mcp/oversight.py, docs/policy.md)
    policy: str | None = Field(None, description="Spend policy file (TOML); reloaded on change or SIGHUP.")
    allow_live_writes: bool = Field(False, description="Allow writes with a live gigstack key.")
    audit_log: str = Field("stderr", description="Audit trail: a JSONL file path, 'stderr' or 'off'.")
    audit_key: SecretStr | None = Field(None, description="HMAC key for the audit chain and its hashes.")
    audit_fsync: Literal["always", "interval", "never"] = Field(
        "interval", description="When audit records reach the disk: every record, once a second, or never."
    )

    def use_sandbox(self) -> bool:
        return self.sandbox or self.api_key is None
