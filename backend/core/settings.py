"""Settings, read from the environment (and `.env`): one small class per concern, composed.

Every environment variable keeps its flat name (REDIS_URL, SMTP_HOST, PARSE_CPU_S ...): each
class reads its own with a prefix or an alias. `settings` is built once, at first import;
`Settings()` builds a fresh one (the `make up` runner reads its .env after changing folder).
Production verdicts (weak secrets, Flower, insecure transport) live in
`backend.core.security.config_check`: each process checks the settings it needs when it starts,
and `python -m backend check-config` prints them all.
"""

from __future__ import annotations

import ssl
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = ROOT_DIR / "var"
# Published in the source: accepted only with ENVIRONMENT=development or test (check-config).
DEFAULT_JWT_SECRET = "dev-insecure-secret-change-me-0123456789abcdef"  # noqa: S105
DEFAULT_ID_SECRET = "dev-insecure-id-secret-change-me-0123456789abcdef"  # noqa: S105


class AppSettings(BaseSettings):
    """The deployment as a whole."""

    model_config = SettingsConfigDict(env_prefix="", env_file=".env", extra="ignore")
    # Secure by default: `make up` and the tests set development/test explicitly.
    environment: Literal["development", "test", "production"] = "production"
    log_level: str = "INFO"
    log_json: bool = True
    # Absolute base of links in e-mails.
    public_base_url: str = "http://localhost:8000"


class RedisSettings(BaseSettings):
    """Redis: broker, status store, pub/sub and shared limits."""

    model_config = SettingsConfigDict(env_prefix="REDIS_", env_file=".env", extra="ignore")
    url: str = "redis://127.0.0.1:6379/0"
    socket_timeout_s: float = 5.0
    # Broker defaults to REDIS_URL; set it to use another Redis (or RabbitMQ, without priorities
    # and direct publishing: see README).
    broker_url: str | None = Field(default=None, validation_alias="BROKER_URL")
    key_prefix: str = Field(
        default="ltq:", pattern=r"^[A-Za-z0-9_.-]{1,32}:$", validation_alias="KEY_PREFIX"
    )
    # Workers retry a Redis command this long while Redis is unreachable (a restart), instead
    # of failing the task; the API never waits (it falls back to the outbox).
    worker_redis_outage_retry_s: float = Field(
        default=30.0, ge=0, validation_alias="WORKER_REDIS_OUTAGE_RETRY_S"
    )

    # TLS (a `rediss://` URL): the CA that signed the server's certificate, and an optional
    # client certificate and key; the server's certificate is always verified.
    tls_ca_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None

    def tls_options(self, url: str | None = None) -> dict[str, Any]:
        """redis-py's ssl_* arguments for a `rediss://` URL (empty for plain URLs)."""
        if not (url or self.url).startswith("rediss://"):
            return {}
        options: dict[str, Any] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
        if self.tls_ca_file:
            options["ssl_ca_certs"] = str(self.tls_ca_file)
        if self.tls_cert_file:
            options["ssl_certfile"] = str(self.tls_cert_file)
            options["ssl_keyfile"] = str(self.tls_key_file or self.tls_cert_file)
        return options

    @cached_property
    def effective_broker_url(self) -> str:
        return self.broker_url or self.url

    @property
    def broker_is_redis(self) -> bool:
        return self.effective_broker_url.startswith(("redis://", "rediss://", "unix://"))


class DatabaseSettings(BaseSettings):
    """The SQL database (SQLite under var/ by default, or PostgreSQL)."""

    model_config = SettingsConfigDict(env_prefix="DATABASE_", env_file=".env", extra="ignore")
    url: str = f"sqlite:///{VAR_DIR / 'app.db'}"


class ApiSettings(BaseSettings):
    """The HTTP API."""

    model_config = SettingsConfigDict(env_prefix="API_", env_file=".env", extra="ignore")
    port: int = 8000
    # Submissions per user and route; over it the API answers 429 with Retry-After.
    rate_limits: dict[str, str] = {
        "POST /api/tasks": "100/minute",
        "POST /api/triage": "30/minute",
        "POST /api/triage/batch": "10/minute",
        "POST /api/documents": "30/minute",
        "POST /api/reports": "10/minute",
    }
    max_body_bytes: int = Field(default=1_048_576, validation_alias="MAX_BODY_BYTES")
    cors_origins: list[str] = Field(default=[], validation_alias="CORS_ORIGINS")


class AuthSettings(BaseSettings):
    """Bearer tokens: our own (HS256 with a secret, or EdDSA/RS256 with a key pair), and
    optionally an external OIDC issuer's (keys from its JWKS URL)."""

    model_config = SettingsConfigDict(env_prefix="JWT_", env_file=".env", extra="ignore")
    # HS256 only; None outside development/test is refused by check-config (API, token CLI).
    secret: str | None = None
    algorithm: Literal["HS256", "EdDSA", "RS256"] = "HS256"
    # EdDSA/RS256: the API needs only the public key; the private key is for whoever issues
    # tokens (`python -m backend token`). PEM text, or a path to a PEM file.
    public_key: str | None = None
    private_key: str | None = None
    issuer: str = "ltq"
    audience: str = "ltq-api"
    ttl_s: int = Field(default=3600, gt=0)
    # Tokens living longer than this (exp - iat) are refused, whoever issued them.
    max_ttl_s: int = Field(default=3600, gt=0)
    leeway_s: int = Field(default=30, ge=0, le=300)
    # Optional external issuer (OIDC): tokens whose `iss` is OIDC_ISSUER are verified with the
    # keys at OIDC_JWKS_URL, for OIDC_AUDIENCE; the role comes from OIDC_ROLE_CLAIM.
    oidc_issuer: str | None = Field(default=None, validation_alias="OIDC_ISSUER")
    oidc_jwks_url: str | None = Field(default=None, validation_alias="OIDC_JWKS_URL")
    oidc_audience: str | None = Field(default=None, validation_alias="OIDC_AUDIENCE")
    oidc_role_claim: str = Field(default="role", validation_alias="OIDC_ROLE_CLAIM")
    oidc_algorithms: list[str] = Field(
        default=["RS256", "EdDSA", "ES256"], validation_alias="OIDC_ALGORITHMS"
    )
    oidc_timeout_s: float = Field(default=5.0, gt=0, le=30, validation_alias="OIDC_TIMEOUT_S")

    @property
    def effective_secret(self) -> str | None:
        """The HS256 secret; the published default only outside production."""
        if self.secret:
            return self.secret
        return DEFAULT_JWT_SECRET if _environment() != "production" else None


class SecuritySettings(BaseSettings):
    """Secure-by-default switches, ids derived from idempotency keys, abuse limits."""

    model_config = SettingsConfigDict(env_prefix="", env_file=".env", extra="ignore")
    # HMAC key of the ids derived from idempotency keys (cases, batches, reports, tasks): an
    # id names nothing an attacker can compute; keys derived from it sign recipient
    # confirmation links (backend/core/security/confirmation.py). Required in production.
    id_secret: str | None = Field(default=None, validation_alias="ID_SECRET")
    # A static bearer token for the Prometheus scraper (≥ 32 characters); operators' and
    # admins' JWTs are accepted on /metrics too.
    metrics_token: str | None = Field(default=None, min_length=32, validation_alias="METRICS_TOKEN")
    # Accept redis:// and plain SMTP to a non-loopback host in production.
    allow_insecure_transport: bool = False
    # Abuse limits per user (clients; operators and admins are not limited by these).
    sse_max_streams_per_user: int = Field(default=10, ge=1)
    sse_max_lifetime_s: float = Field(default=300.0, gt=0)
    metadata_max_bytes: int = Field(default=16 * 1024, ge=256)
    uploads_per_day: int = Field(default=200, ge=1)
    upload_bytes_per_user: int = Field(default=1024 * 1024 * 1024, ge=1)
    cases_per_day: int = Field(default=2000, ge=1)
    email_recipients_per_hour: int = Field(default=50, ge=1)
    reports_per_day: int = Field(default=20, ge=1)
    # The longest period a client's own report may cover (operators: up to 720 h).
    client_report_max_hours: int = Field(default=168, ge=1, le=720)
    # Client-given addresses (a case's client_email, a batch's notify_email) get mail only once
    # they confirmed it through a signed link (one confirmation e-mail per client and address
    # per RECIPIENT_CONFIRMATION_TTL_S, which is also the link's lifetime). "off": mail goes
    # only to the account's own address (the token's `email` claim), never to the given one.
    recipient_confirmation: Literal["on", "off"] = "on"
    recipient_confirmation_ttl_s: int = Field(default=72 * 3600, ge=60, le=30 * 24 * 3600)

    @property
    def effective_id_secret(self) -> str | None:
        if self.id_secret:
            return self.id_secret
        return DEFAULT_ID_SECRET if _environment() != "production" else None


def _environment() -> str:
    """ENVIRONMENT as AppSettings reads it (the secrets' dev defaults depend on it)."""
    return AppSettings().environment


class TaskSettings(BaseSettings):
    """Task records, idempotency and retry policies."""

    model_config = SettingsConfigDict(env_prefix="TASK_", env_file=".env", extra="ignore")
    # Finished task records (status, history, result) are kept this long in Redis.
    record_ttl_s: int = 7 * 24 * 3600
    history_max: int = 50
    # Scale overrides: retry policy and time limits per task name, e.g.
    # TASK_POLICY_OVERRIDES='{"triage.classify_case": {"max_attempts": 5}}'
    policy_overrides: dict[str, dict[str, float]] = {}
    # Celery's own result backend entries expire after this long.
    result_expires_s: int = Field(default=24 * 3600, validation_alias="RESULT_EXPIRES_S")
    idempotency_ttl_s: int = Field(default=24 * 3600, validation_alias="IDEMPOTENCY_TTL_S")
    visibility_timeout_s: int = Field(default=3600, validation_alias="VISIBILITY_TIMEOUT_S")
    # Modules of tasks beyond the built-in ones, imported by workers and the CLI (test
    # instruments, plug-ins), e.g. EXTRA_TASK_MODULES=tests.support.tasks.
    extra_task_modules: str = Field(default="", validation_alias="EXTRA_TASK_MODULES")

    @property
    def extra_modules(self) -> list[str]:
        """EXTRA_TASK_MODULES as a list (comma-separated in the environment)."""
        return [name.strip() for name in self.extra_task_modules.split(",") if name.strip()]


class RecoverySettings(BaseSettings):
    """Worker heartbeats, the reaper and the orphan sweep."""

    model_config = SettingsConfigDict(env_prefix="", env_file=".env", extra="ignore")
    worker_heartbeat_s: float = 5.0
    worker_heartbeat_ttl_s: float = 15.0
    # How often each worker's reaper thread (±20 %) looks for messages of dead workers; recovery
    # takes at most about WORKER_HEARTBEAT_TTL_S + REAPER_INTERVAL_S, not the visibility timeout.
    reaper_interval_s: float = 10.0
    # The orphan sweep (backend/platform/recovery/orphans.py) publishes again a task that has waited
    # this long with its message in no queue and no unacked entry (lost by the broker in a
    # restart); one worker sweeps at most every interval, and not past this many messages.
    orphan_after_s: float = Field(default=120.0, gt=0)
    orphan_sweep_interval_s: float = Field(default=60.0, gt=0)
    orphan_sweep_max_queued: int = Field(default=200_000, ge=0)


class OutboxSettings(BaseSettings):
    """The SQL outbox and its relay."""

    model_config = SettingsConfigDict(env_prefix="OUTBOX_", env_file=".env", extra="ignore")
    # The outbox relay (in each API process, and as a beat task) publishes tasks that were
    # accepted while Redis was down; it leaves rows younger than the grace period to the
    # request that staged them.
    relay_interval_s: float = Field(default=1.0, gt=0)
    relay_grace_s: float = Field(default=5.0, ge=0)


class DeadLetterSettings(BaseSettings):
    """The dead-letter store."""

    model_config = SettingsConfigDict(env_prefix="DEAD_LETTER_", env_file=".env", extra="ignore")
    # Dead-letter store: most entries one replay-by-filter call re-enqueues, and how much of a
    # failure's traceback (or an undeliverable message's body) is kept, scrubbed.
    replay_max: int = Field(default=100, ge=1, le=10_000)
    text_max: int = Field(default=8000, ge=200)


class TriageSettings(BaseSettings):
    """Case triage."""

    model_config = SettingsConfigDict(env_prefix="TRIAGE_", env_file=".env", extra="ignore")
    # "rules": the deterministic engine; "llm": an OpenAI-compatible model, falling back to the
    # rules on any error, timeout, invalid answer or open breaker.
    engine: Literal["rules", "llm"] = "rules"
    batch_max: int = Field(default=100, ge=1, le=1000)


class LLMSettings(BaseSettings):
    """The optional LLM triage engine (OpenAI-compatible)."""

    model_config = SettingsConfigDict(env_prefix="LLM_", env_file=".env", extra="ignore")
    url: str = "http://127.0.0.1:8080/v1"
    model: str = "triage"
    api_key: str | None = None
    timeout_s: float = Field(default=20.0, gt=0)


class RateLimitSettings(BaseSettings):
    """Shared rate limits of external services."""

    model_config = SettingsConfigDict(env_prefix="", env_file=".env", extra="ignore")
    # Calls per external service, e.g. '{"llm": "60/minute", "smtp": "10/second"}'; a task over
    # its limit is deferred until a slot frees (no attempt used).
    rate_limits: dict[str, str] = {"llm": "60/minute", "smtp": "10/second"}
    # Calls per service and key (per user, per case), e.g. '{"llm": "10/minute"}'.
    rate_limits_per_key: dict[str, str] = {}


class BreakerSettings(BaseSettings):
    """Shared circuit breakers."""

    model_config = SettingsConfigDict(env_prefix="BREAKER_", env_file=".env", extra="ignore")
    # Breakers per service: open after FAIL_MAX failures in a row, or when at least
    # MIN_CALLS calls in WINDOW_S failed in RATIO or more; half-open after COOLDOWN_S with
    # one probe. E.g. BREAKERS='{"smtp": {"fail_max": 5, "cooldown_s": 30}}'.
    # The LLM opens sooner and stays open longer: triage falls back to the rules meanwhile.
    per_service: dict[str, dict[str, float]] = Field(
        default={"llm": {"fail_max": 3, "cooldown_s": 60}, "smtp": {}}, validation_alias="BREAKERS"
    )
    fail_max: int = Field(default=5, ge=1)
    failure_ratio: float = Field(default=0.5, gt=0, le=1)
    min_calls: int = Field(default=20, ge=1)
    window_s: float = Field(default=60.0, gt=0)
    cooldown_s: float = Field(default=30.0, gt=0)
    # A probe that never reports back (its worker died) frees the half-open slot after this.
    probe_timeout_s: float = Field(default=60.0, gt=0)


class WebhookSettings(BaseSettings):
    """Batch completion webhooks."""

    model_config = SettingsConfigDict(env_prefix="WEBHOOK_", env_file=".env", extra="ignore")
    # HMAC-SHA256 key of the X-LTQ-Signature header on batch callbacks; without it the API
    # refuses `callback_url`. Outside production a callback may target localhost or a private
    # network; in production only if WEBHOOK_ALLOW_PRIVATE_HOSTS (SSRF guard).
    secret: str | None = Field(default=None, min_length=32)
    timeout_s: float = Field(default=10.0, gt=0, le=60)
    allow_private_hosts: bool = False


class SmtpSettings(BaseSettings):
    """The SMTP server e-mail goes through."""

    model_config = SettingsConfigDict(env_prefix="SMTP_", env_file=".env", extra="ignore")
    host: str = "127.0.0.1"
    port: int = 1025
    user: str | None = None
    password: str | None = None
    # Credentials are sent only over TLS: with SMTP_USER set, SMTP_STARTTLS or SMTP_SSL is
    # required (refused at start otherwise, and the mailer checks the socket before AUTH).
    starttls: bool = False
    ssl: bool = False
    timeout_s: float = 10.0
    # The CA that signed the server's certificate, if not one the system trusts.
    tls_ca_file: Path | None = None


class MailSettings(BaseSettings):
    """What e-mail is sent, to whom, and the local mailbox."""

    model_config = SettingsConfigDict(env_prefix="", env_file=".env", extra="ignore")
    mail_from: str = "triagem@localhost"
    operator_emails: list[str] = []
    # E-mail OPERATOR_EMAILS when a task fails for good (not for notification tasks themselves).
    notify_operators_on_failure: bool = True
    # Where `make up`'s SMTP sink files messages (GET /api/dev/mailbox reads it).
    mailbox_dir: Path = VAR_DIR / "mailbox"


class FileSettings(BaseSettings):
    """Files on disk and how long they are kept."""

    model_config = SettingsConfigDict(env_prefix="", env_file=".env", extra="ignore")
    reports_dir: Path = VAR_DIR / "reports"
    uploads_dir: Path = VAR_DIR / "uploads"
    # maintenance.purge_expired removes reports (rows and files) and uploaded files older than
    # these; task records and Celery results age out by TASK_RECORD_TTL_S and RESULT_EXPIRES_S.
    report_retention_days: int = Field(default=90, ge=1)
    upload_retention_days: int = Field(default=365, ge=1)


class BeatSettings(BaseSettings):
    """Celery beat (RedBeat)."""

    model_config = SettingsConfigDict(env_prefix="BEAT_", env_file=".env", extra="ignore")
    # A beat that stops renewing its lock for this long is presumed dead; a standby takes over.
    lock_timeout_s: int = Field(default=60, ge=2)
    # Longest sleep between two schedule checks; must stay well under the lock timeout.
    max_loop_interval_s: float = Field(default=5.0, gt=0)


class ParsingSettings(BaseSettings):
    """Document uploads and the isolated parser."""

    model_config = SettingsConfigDict(env_prefix="", env_file=".env", extra="ignore")
    # Larger uploads to POST /api/documents get 413 (MAX_BODY_BYTES does not apply there).
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    # Each document is parsed in a child process under these limits; breaking one fails that
    # document's task only.
    parse_timeout_s: float = Field(default=60.0, gt=0)
    parse_cpu_s: int = Field(default=30, gt=0)
    parse_memory_bytes: int = Field(default=1024 * 1024 * 1024, gt=0)
    parse_max_pages: int = Field(default=500, gt=0)
    parse_max_text_chars: int = Field(default=2_000_000, gt=0)
    docx_max_uncompressed_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    docx_max_ratio: float = Field(default=100.0, gt=1)
    # OCR of PDFs without a text layer, when `tesseract` (and `pdftoppm`) are installed.
    ocr_language: str = Field(default="por", pattern=r"^[a-z_+]{3,40}$")
    ocr_max_pages: int = Field(default=20, gt=0)
    ocr_dpi: int = Field(default=200, ge=72, le=600)


class PrivacySettings(BaseSettings):
    """Personal data: encryption at rest, retention per kind, the transport rules (LGPD)."""

    model_config = SettingsConfigDict(env_prefix="", env_file=".env", extra="ignore")
    # Key-encryption keys, `id:base64(32 bytes)`, comma-separated, newest first. Without it,
    # development and test read DATA_KEYS_FILE (written by `make up`); production refuses to
    # start.
    data_keys: SecretStr | None = Field(default=None, validation_alias="DATA_KEYS")
    data_keys_file: Path = Field(default=VAR_DIR / "data-keys", validation_alias="DATA_KEYS_FILE")
    # Unwrapped data keys kept per process (most recently used), and for how long.
    data_key_cache_size: int = Field(default=1024, ge=1, validation_alias="DATA_KEY_CACHE_SIZE")
    data_key_cache_ttl_s: float = Field(
        default=300.0, gt=0, validation_alias="DATA_KEY_CACHE_TTL_S"
    )
    # Retention per kind (maintenance.purge_expired): a case with its documents and text is
    # erased this long after its last activity; a finished batch, a dead letter, a ledger row.
    case_retention_days: int = Field(default=5 * 365, ge=1, validation_alias="CASE_RETENTION_DAYS")
    batch_retention_days: int = Field(default=365, ge=1, validation_alias="BATCH_RETENTION_DAYS")
    dead_letter_retention_days: int = Field(
        default=90, ge=1, validation_alias="DEAD_LETTER_RETENTION_DAYS"
    )
    notification_retention_days: int = Field(
        default=365, ge=1, validation_alias="NOTIFICATION_RETENTION_DAYS"
    )
    # Test hook, honoured only with ENVIRONMENT=test (refused at start otherwise): the erasure
    # task stops for this long after the step named here (an ErasureStep name, e.g. ROWS), so
    # that a test can SIGKILL its worker half-way.
    test_erasure_pause_after: str | None = Field(
        default=None, validation_alias="TEST_ERASURE_PAUSE_AFTER"
    )
    test_erasure_pause_s: float = Field(default=60.0, gt=0, validation_alias="TEST_ERASURE_PAUSE_S")


class FlowerSettings(BaseSettings):
    """Flower, Celery's monitor."""

    model_config = SettingsConfigDict(env_prefix="FLOWER_", env_file=".env", extra="ignore")
    port: int = 5555
    # Loopback only in production unless put behind a proxy that adds TLS (check-config).
    address: str = "127.0.0.1"
    user: str = "operator"
    password: str | None = None


class ObservabilitySettings(BaseSettings):
    """Metrics, alerts and error reporting."""

    model_config = SettingsConfigDict(env_prefix="", env_file=".env", extra="ignore")
    # How many live workers the deployment should have (ltq_workers_expected; an alert fires
    # when fewer heartbeat).
    workers_expected: int = Field(default=1, ge=0)
    # Operators get at most one failure e-mail per task name per window, with the count.
    alert_window_s: float = Field(default=300.0, gt=0, le=3000)
    # Optional Sentry (off unless set); the same log scrubbing applies before anything is sent.
    sentry_dsn: str | None = None
    sentry_traces_sample_rate: float = Field(default=0.0, ge=0, le=1)


class WorkerPoolSettings(BaseSettings):
    """Worker pools: Celery's --autoscale bounds (make up and the systemd units)."""

    model_config = SettingsConfigDict(
        env_prefix="WORKER_AUTOSCALE_", env_file=".env", extra="ignore"
    )
    # The pool grows up to MAX processes while messages wait, and shrinks back to MIN.
    min: int = Field(default=1, ge=1, le=64)
    max: int = Field(default=4, ge=1, le=64)
    # Seconds a pool process stays idle before the autoscaler removes it.
    keepalive_s: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> WorkerPoolSettings:
        if self.max < self.min:
            raise ValueError("WORKER_AUTOSCALE_MAX must be at least WORKER_AUTOSCALE_MIN")
        return self


class SupervisorSettings(BaseSettings):
    """`make up`'s supervisor: restarts with backoff, gives up on a crash loop."""

    model_config = SettingsConfigDict(env_prefix="SUPERVISOR_", env_file=".env", extra="ignore")
    # A process that crashes this many times within the window stops everything.
    crash_max: int = Field(default=5, ge=1)
    crash_window_s: float = Field(default=60.0, gt=0)
    # Restart delays: base, doubled after each crash in the window, capped.
    backoff_base_s: float = Field(default=0.5, gt=0)
    backoff_max_s: float = Field(default=15.0, gt=0)
    # Where make up keeps its database, Redis data, mailbox and metrics files.
    var_dir: Path = VAR_DIR


class Settings(BaseModel):
    """All settings, one attribute per concern: `settings.smtp.host`, `settings.redis.url`."""

    app: AppSettings = Field(default_factory=AppSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    tasks: TaskSettings = Field(default_factory=TaskSettings)
    recovery: RecoverySettings = Field(default_factory=RecoverySettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    dead_letters: DeadLetterSettings = Field(default_factory=DeadLetterSettings)
    triage: TriageSettings = Field(default_factory=TriageSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    breakers: BreakerSettings = Field(default_factory=BreakerSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    files: FileSettings = Field(default_factory=FileSettings)
    beat: BeatSettings = Field(default_factory=BeatSettings)
    parsing: ParsingSettings = Field(default_factory=ParsingSettings)
    flower: FlowerSettings = Field(default_factory=FlowerSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    pool: WorkerPoolSettings = Field(default_factory=WorkerPoolSettings)
    supervisor: SupervisorSettings = Field(default_factory=SupervisorSettings)

    @model_validator(mode="after")
    def _check_rules(self) -> Settings:
        from backend.core.settings_rules import check

        check(self)
        return self


settings = Settings()
