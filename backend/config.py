"""One Settings object for the whole project, read from the environment (and `.env`).

Validated at import: outside development the app refuses to start with the default JWT secret.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = ROOT_DIR / "var"
DEFAULT_JWT_SECRET = "dev-insecure-secret-change-me-0123456789abcdef"  # noqa: S105 - refused outside development


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"
    log_json: bool = True

    # --- infrastructure -------------------------------------------------------------------
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Broker defaults to REDIS_URL; set it to use another Redis (or RabbitMQ, without priorities
    # and direct publishing: see README).
    broker_url: str | None = None
    database_url: str = f"sqlite:///{VAR_DIR / 'app.db'}"
    key_prefix: str = Field(default="ltq:", pattern=r"^[A-Za-z0-9_.-]{1,32}:$")
    redis_socket_timeout_s: float = 5.0
    # Workers retry a Redis command this long while Redis is unreachable (a restart), instead
    # of failing the task; the API never waits (it falls back to the outbox).
    worker_redis_outage_retry_s: float = Field(default=30.0, ge=0)

    # --- API ------------------------------------------------------------------------------
    api_port: int = 8000
    # Absolute base of links in e-mails.
    public_base_url: str = "http://localhost:8000"
    max_body_bytes: int = 1_048_576
    jwt_secret: str = DEFAULT_JWT_SECRET
    jwt_algorithm: Literal["HS256"] = "HS256"
    jwt_ttl_s: int = 12 * 3600
    cors_origins: list[str] = []

    # --- tasks ----------------------------------------------------------------------------
    # Finished task records (status, history, result) are kept this long in Redis.
    task_record_ttl_s: int = 7 * 24 * 3600
    # Celery's own result backend entries expire after this long.
    result_expires_s: int = 24 * 3600
    task_history_max: int = 50
    idempotency_ttl_s: int = 24 * 3600
    runtime_sample_size: int = 1000
    visibility_timeout_s: int = 3600
    worker_heartbeat_s: float = 5.0
    worker_heartbeat_ttl_s: float = 15.0
    # How often each worker's reaper thread (±20 %) looks for messages of dead workers; recovery
    # takes at most about WORKER_HEARTBEAT_TTL_S + REAPER_INTERVAL_S, not the visibility timeout.
    reaper_interval_s: float = 10.0
    # The orphan sweep (backend/services/orphans.py) publishes again a task that has waited
    # this long with its message in no queue and no unacked entry (lost by the broker in a
    # restart); one worker sweeps at most every interval, and not past this many messages.
    orphan_after_s: float = Field(default=120.0, gt=0)
    orphan_sweep_interval_s: float = Field(default=60.0, gt=0)
    orphan_sweep_max_queued: int = Field(default=200_000, ge=0)
    # The outbox relay (in each API process, and as a beat task) publishes tasks that were
    # accepted while Redis was down; it leaves rows younger than the grace period to the
    # request that staged them.
    outbox_relay_interval_s: float = Field(default=1.0, gt=0)
    outbox_relay_grace_s: float = Field(default=5.0, ge=0)
    # Scale overrides: retry policy and time limits per task name, e.g.
    # TASK_POLICY_OVERRIDES='{"triage.classify_case": {"max_attempts": 5}}'
    task_policy_overrides: dict[str, dict[str, float]] = {}
    # Dead-letter store: most entries one replay-by-filter call re-enqueues, and how much of a
    # failure's traceback (or an undeliverable message's body) is kept, scrubbed.
    dead_letter_replay_max: int = Field(default=100, ge=1, le=10_000)
    dead_letter_text_max: int = Field(default=8000, ge=200)

    # --- triage ---------------------------------------------------------------------------
    # "rules": the deterministic engine; "llm": an OpenAI-compatible model, falling back to the
    # rules on any error, timeout, invalid answer or open breaker.
    triage_engine: Literal["rules", "llm"] = "rules"
    triage_batch_max: int = Field(default=100, ge=1, le=1000)
    llm_url: str = "http://127.0.0.1:8080/v1"
    llm_model: str = "triage"
    llm_api_key: str | None = None
    llm_timeout_s: float = Field(default=20.0, gt=0)

    # --- shared rate limits and circuit breakers (Redis; every worker and host) -----------
    # Calls per external service, e.g. '{"llm": "60/minute", "smtp": "10/second"}'; a task over
    # its limit is deferred until a slot frees (no attempt used).
    rate_limits: dict[str, str] = {"llm": "60/minute", "smtp": "10/second"}
    # Calls per service and key (per user, per case), e.g. '{"llm": "10/minute"}'.
    rate_limits_per_key: dict[str, str] = {}
    # Submissions per user and route; over it the API answers 429 with Retry-After.
    api_rate_limits: dict[str, str] = {
        "POST /api/tasks": "100/minute",
        "POST /api/triage": "30/minute",
        "POST /api/triage/batch": "10/minute",
        "POST /api/documents": "30/minute",
        "POST /api/reports": "10/minute",
    }
    # Breakers per service: open after FAIL_MAX failures in a row, or when at least
    # MIN_CALLS calls in WINDOW_S failed in RATIO or more; half-open after COOLDOWN_S with
    # one probe. E.g. BREAKERS='{"smtp": {"fail_max": 5, "cooldown_s": 30}}'.
    # The LLM opens sooner and stays open longer: triage falls back to the rules meanwhile.
    breakers: dict[str, dict[str, float]] = {
        "llm": {"fail_max": 3, "cooldown_s": 60},
        "smtp": {},
    }
    breaker_fail_max: int = Field(default=5, ge=1)
    breaker_failure_ratio: float = Field(default=0.5, gt=0, le=1)
    breaker_min_calls: int = Field(default=20, ge=1)
    breaker_window_s: float = Field(default=60.0, gt=0)
    breaker_cooldown_s: float = Field(default=30.0, gt=0)
    # A probe that never reports back (its worker died) frees the half-open slot after this.
    breaker_probe_timeout_s: float = Field(default=60.0, gt=0)

    # --- batch completion webhooks -------------------------------------------------------
    # HMAC-SHA256 key of the X-LTQ-Signature header on batch callbacks; without it the API
    # refuses `callback_url`. Outside production a callback may target localhost or a private
    # network; in production only if WEBHOOK_ALLOW_PRIVATE_HOSTS (SSRF guard).
    webhook_secret: str | None = Field(default=None, min_length=32)
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60)
    webhook_allow_private_hosts: bool = False

    # --- e-mail ---------------------------------------------------------------------------
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout_s: float = 10.0
    mail_from: str = "triagem@localhost"
    operator_emails: list[str] = []
    # E-mail OPERATOR_EMAILS when a task fails for good (not for notification tasks themselves).
    notify_operators_on_failure: bool = True
    # Where `make up`'s SMTP sink files messages (GET /api/dev/mailbox reads it).
    mailbox_dir: Path = VAR_DIR / "mailbox"

    # --- files ----------------------------------------------------------------------------
    reports_dir: Path = VAR_DIR / "reports"
    uploads_dir: Path = VAR_DIR / "uploads"
    # maintenance.purge_expired removes reports (rows and files) and uploaded files older than
    # these; task records and Celery results age out by TASK_RECORD_TTL_S and RESULT_EXPIRES_S.
    report_retention_days: int = Field(default=90, ge=1)
    upload_retention_days: int = Field(default=365, ge=1)

    # --- beat (RedBeat) -------------------------------------------------------------------
    # A beat that stops renewing its lock for this long is presumed dead; a standby takes over.
    beat_lock_timeout_s: int = Field(default=60, ge=2)
    # Longest sleep between two schedule checks; must stay well under the lock timeout.
    beat_max_loop_interval_s: float = Field(default=5.0, gt=0)

    # --- document uploads and parsing -----------------------------------------------------
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

    # --- Flower ---------------------------------------------------------------------------
    flower_port: int = 5555
    flower_user: str = "operator"
    flower_password: str | None = None

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment != "development" and self.jwt_secret == DEFAULT_JWT_SECRET:
            raise ValueError(
                "JWT_SECRET is the built-in development default; set a real secret "
                "(or ENVIRONMENT=development for local use)"
            )
        if len(self.jwt_secret) < 32:
            raise ValueError("JWT_SECRET must be at least 32 characters")
        return self

    @cached_property
    def effective_broker_url(self) -> str:
        return self.broker_url or self.redis_url

    @property
    def broker_is_redis(self) -> bool:
        return self.effective_broker_url.startswith(("redis://", "rediss://", "unix://"))


settings = Settings()
